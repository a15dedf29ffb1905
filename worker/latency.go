package worker

import (
	"sync/atomic"
	"time"
)

// Classes is the number of command classes a pool's latency is kept for
// (resp: read, write, multi, other; memcache: get, set, delete, other).
const Classes = 4

// Latency buckets. A bucket holds the durations d with bounds[i-1] < d <=
// bounds[i] (Prometheus' "le"), the first one d <= 10 µs, the last one d >
// 10 s. The bounds run from 10 µs to 10 s with 15 per decade (1, 1.25, 1.5,
// 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9 × 10^k), so a percentile read
// from them is within about 12% of the true value (25% at worst, above
// 1, 2 and 5 × 10^k), and every bound of [PromBounds] is one of them.
var bounds = func() []int64 {
	mant := []int64{100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900}
	var b []int64
	for scale := int64(100); scale <= 10_000_000; scale *= 10 { // 10 µs .. 9 s
		for _, m := range mant {
			b = append(b, m*scale)
		}
	}
	return append(b, 10*int64(time.Second))
}()

// NumBuckets is the number of latency buckets, overflow included.
const NumBuckets = 6*15 + 2

// PromBounds are the upper bounds of the buckets exported to Prometheus:
// 50 µs to 1 s in 1-2.5-5 steps.
var PromBounds = []time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second,
}

func init() {
	if len(bounds)+1 != NumBuckets {
		panic("BUG: worker: latency bucket count")
	}
	for _, p := range PromBounds {
		if i := bucketOf(int64(p)); bounds[i] != int64(p) {
			panic("BUG: worker: Prometheus bound " + p.String() + " is not a latency bucket bound")
		}
	}
}

// bucketOf returns the bucket of a duration in nanoseconds: a binary
// search over the bounds (7 steps, no allocation).
func bucketOf(d int64) int {
	lo, hi := 0, len(bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d <= bounds[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Latency is one loop's latency histogram of one pool and command class,
// with its count of slow requests.
//
// The loop records into plain memory (no atomic, no lock, no allocation:
// an increment and an add per request) and copies what changed to the
// published half on its tick ([Latency.Publish]); scrapes read only the
// published half, so they see the loop's counts as of its last tick.
type Latency struct {
	counts [NumBuckets]uint64
	sum    uint64 // nanoseconds
	slow   uint64
	dirty  bool

	pub     [NumBuckets]atomic.Uint64
	pubSum  atomic.Uint64
	pubSlow atomic.Uint64
}

// Record counts one request that took d nanoseconds. Only the owning loop
// may call it.
func (l *Latency) Record(d int64) {
	if d < 0 { // the wall clock stepped back
		d = 0
	}
	l.counts[bucketOf(d)]++
	l.sum += uint64(d)
	l.dirty = true
}

// RecordSlow counts one request over the pool's slowlog threshold. Only the
// owning loop may call it.
func (l *Latency) RecordSlow() {
	l.slow++
	l.dirty = true
}

// Publish copies what changed since the last call for scrapes to read.
// Only the owning loop may call it.
func (l *Latency) Publish() {
	if !l.dirty {
		return
	}
	l.dirty = false
	for i, c := range l.counts {
		if l.pub[i].Load() != c {
			l.pub[i].Store(c)
		}
	}
	l.pubSum.Store(l.sum)
	l.pubSlow.Store(l.slow)
}

// AddTo adds the published counts to h. Any goroutine may call it.
func (l *Latency) AddTo(h *Histogram) {
	for i := range l.pub {
		h.Counts[i] += l.pub[i].Load()
	}
	h.Sum += time.Duration(l.pubSum.Load())
	h.Slow += l.pubSlow.Load()
}

// Histogram is a latency histogram merged from the loops' shards.
type Histogram struct {
	Counts [NumBuckets]uint64
	Sum    time.Duration
	Slow   uint64 // requests over the slowlog threshold
}

// Count is the number of requests recorded.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// CumulativeCount is the number of requests that took at most le, where
// le is one of the bucket bounds (every one of [PromBounds] is).
func (h *Histogram) CumulativeCount(le time.Duration) uint64 {
	var n uint64
	for i := 0; i < len(bounds) && bounds[i] <= int64(le); i++ {
		n += h.Counts[i]
	}
	return n
}

// Quantile estimates the q-quantile (0 < q <= 1), interpolating linearly
// within its bucket; 0 when nothing was recorded. Durations past the last
// bound read as that bound (10 s).
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum uint64
	for i, c := range h.Counts {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		if i == len(bounds) {
			break
		}
		lower := int64(0)
		if i > 0 {
			lower = bounds[i-1]
		}
		frac := (rank - float64(cum)) / float64(c)
		return time.Duration(float64(lower) + frac*float64(bounds[i]-lower))
	}
	return time.Duration(bounds[len(bounds)-1])
}
