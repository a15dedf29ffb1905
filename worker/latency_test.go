package worker

import (
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	if bounds[0] != int64(10*time.Microsecond) || bounds[len(bounds)-1] != int64(10*time.Second) {
		t.Fatalf("bounds run from %v to %v", time.Duration(bounds[0]), time.Duration(bounds[len(bounds)-1]))
	}
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			t.Fatalf("bounds not increasing at %d: %d, %d", i, bounds[i-1], bounds[i])
		}
	}
	f := func(d time.Duration, want int) {
		t.Helper()
		if got := bucketOf(int64(d)); got != want {
			t.Errorf("bucketOf(%v) = %d, want %d", d, got, want)
		}
	}
	f(0, 0)
	f(10*time.Microsecond, 0)        // le is inclusive
	f(10*time.Microsecond+1, 1)      // (10 µs, 12.5 µs]
	f(50*time.Microsecond, 10)       // 5 × 10 µs is the 11th bound
	f(10*time.Second, len(bounds)-1) // the last bound
	f(10*time.Second+1, len(bounds)) // overflow
	f(time.Hour, NumBuckets-1)       // overflow
	for _, p := range PromBounds {   // exact bounds, by init's check too
		if bounds[bucketOf(int64(p))] != int64(p) {
			t.Errorf("%v is not a bound", p)
		}
	}
}

func TestLatencyPublish(t *testing.T) {
	var l Latency
	for i := 0; i < 98; i++ {
		l.Record(int64(100 * time.Microsecond))
	}
	l.Record(int64(3 * time.Millisecond))
	l.Record(int64(2 * time.Second))
	l.Record(-5) // a clock step back counts as 0
	l.RecordSlow()

	var h Histogram
	l.AddTo(&h)
	if h.Count() != 0 {
		t.Fatalf("unpublished counts visible: %d", h.Count())
	}
	l.Publish()
	l.AddTo(&h)
	if h.Count() != 101 || h.Slow != 1 {
		t.Fatalf("count %d slow %d, want 101 and 1", h.Count(), h.Slow)
	}
	if want := 98*100*time.Microsecond + 3*time.Millisecond + 2*time.Second; h.Sum != want {
		t.Errorf("sum %v, want %v", h.Sum, want)
	}
	if got := h.CumulativeCount(100 * time.Microsecond); got != 99 { // 98 + the zero
		t.Errorf("le=100µs: %d, want 99", got)
	}
	if got := h.CumulativeCount(time.Second); got != 100 {
		t.Errorf("le=1s: %d, want 100", got)
	}

	within := func(name string, got, lo, hi time.Duration) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %v, want in [%v, %v]", name, got, lo, hi)
		}
	}
	within("p50", h.Quantile(0.5), 90*time.Microsecond, 100*time.Microsecond)
	within("p99", h.Quantile(0.99), 2500*time.Microsecond, 3*time.Millisecond)
	within("p999", h.Quantile(0.999), 1750*time.Millisecond, 2*time.Second)

	// Publishing again without new records changes nothing; a second loop's
	// shard adds up.
	l.Publish()
	var other Latency
	other.Record(int64(time.Millisecond))
	other.Publish()
	var sum Histogram
	l.AddTo(&sum)
	other.AddTo(&sum)
	if sum.Count() != 102 {
		t.Errorf("merged count %d, want 102", sum.Count())
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 {
		t.Errorf("empty quantile %v", empty.Quantile(0.99))
	}
}

func TestLatencyRecordAllocs(t *testing.T) {
	var l Latency
	if n := testing.AllocsPerRun(1000, func() { l.Record(12345) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func BenchmarkLatencyRecord(b *testing.B) {
	var l Latency
	for i := 0; i < b.N; i++ {
		l.Record(int64(i&0xffff) * 1000)
	}
}
