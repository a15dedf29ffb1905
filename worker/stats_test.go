package worker

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The counters have one writer goroutine each and readers elsewhere; these
// tests run that way. Under -race they check the atomic build and that the
// race detector stays quiet with a reader concurrent with the writer;
// without it, the plain-store build of amd64 and arm64.

// whole is a step that makes a torn read visible: every multiple of it has
// equal 32-bit halves (up to 2^32 steps), a mix of two of them does not.
const whole = 1<<32 | 1

// race runs step on one writer goroutine, again and again, while readers
// goroutines run read, until every reader has seen enough changes (read
// returns true for a change) or time is up, and returns how many steps the
// writer took. The writer's last step happens before race returns.
func race(t *testing.T, readers int, step func(), read func(r int) bool) (steps int) {
	t.Helper()
	const changes = 500
	deadline := time.Now().Add(2 * time.Second)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // the one writer, as an event loop
		for !stop.Load() {
			step()
			steps++
		}
	})
	seen := make([]int, readers)
	var rg sync.WaitGroup
	for r := range readers { // the readers, as scrapes
		rg.Go(func() {
			for seen[r] < changes && !t.Failed() && time.Now().Before(deadline) {
				for range 64 {
					if read(r) {
						seen[r]++
					}
				}
			}
		})
	}
	rg.Wait()
	stop.Store(true)
	wg.Wait()
	t.Logf("writer steps %d, changes seen by each reader %v", steps, seen)
	return steps
}

func TestCounterWriterAndReader(t *testing.T) {
	var c Counter
	var g Gauge
	var last uint64
	steps := race(t, 1, func() {
		c.Add(whole)
		g.Add(-1) // the gauge swings between 0 and -1: all ones or all zeros
		g.Add(1)
	}, func(int) bool {
		v := c.Load()
		if uint32(v) != uint32(v>>32) {
			t.Fatalf("torn counter read %#x", v)
		}
		if x := g.Load(); x != 0 && x != -1 {
			t.Fatalf("torn gauge read %#x", x)
		}
		changed := v != last
		last = v
		return changed
	})
	if got, want := c.Load(), uint64(steps)*whole; got != want {
		t.Fatalf("counter %d, want %d", got, want)
	}
	if got := g.Load(); got != 0 {
		t.Fatalf("gauge %d, want 0", got)
	}
	c.Inc()
	if got, want := c.Load(), uint64(steps)*whole+1; got != want {
		t.Fatalf("after Inc: %d, want %d", got, want)
	}
}

func TestCounterMonotonic(t *testing.T) {
	const readers = 2
	var c Counter
	var last [readers]uint64
	i := 0
	steps := race(t, readers, func() {
		if i++; i%7 == 0 {
			c.Add(3)
		} else {
			c.Inc()
		}
	}, func(r int) bool {
		v := c.Load()
		if v < last[r] {
			t.Fatalf("reader %d: counter went back from %d to %d", r, last[r], v)
		}
		changed := v != last[r]
		last[r] = v
		return changed
	})
	if want := uint64(steps + 2*(steps/7)); c.Load() != want {
		t.Fatalf("counter %d, want %d", c.Load(), want)
	}
}

// The stats shards are zero-valued memory handed to the loops; a Counter
// and a Gauge start at zero.
func TestCounterZero(t *testing.T) {
	var s ServerStats
	if s.Requests.Load() != 0 || s.InQueue.Load() != 0 {
		t.Fatal("zero value is not zero")
	}
	s.InQueue.Add(2)
	s.InQueue.Add(-3)
	if got := s.InQueue.Load(); got != -1 {
		t.Fatalf("gauge %d, want -1", got)
	}
}

// oldCounter is the counter this package had before: an atomic Store of
// Load()+1, which on amd64 is an XCHG.
type oldCounter struct{ v atomic.Uint64 }

func (c *oldCounter) Inc()         { c.v.Store(c.v.Load() + 1) }
func (c *oldCounter) Add(n uint64) { c.v.Store(c.v.Load() + n) }

// A classic b.N loop, not b.Loop: the calls must inline as they do on the
// hot path. The counters are on the heap, in a shard, as the loops' are.
var benchOld, benchNew = new([7]oldCounter), new(PoolStats)

// BenchmarkCounterInc is one loop's increments per GET: 7 counters.
func BenchmarkCounterInc(b *testing.B) {
	b.Run("old-xchg", func(b *testing.B) {
		c := benchOld
		for i := 0; i < b.N; i++ {
			c[0].Inc()
			c[1].Inc()
			c[2].Inc()
			c[3].Inc()
			c[4].Inc()
			c[5].Inc()
			c[6].Inc()
		}
	})
	b.Run("new", func(b *testing.B) {
		s := benchNew
		for i := 0; i < b.N; i++ {
			s.TotalConnections.Inc()
			s.ClientEOF.Inc()
			s.ClientErr.Inc()
			s.ForwardError.Inc()
			s.Fragments.Inc()
			s.Requests.Inc()
			s.Moved.Inc()
		}
	})
	b.Run("old-xchg-single", func(b *testing.B) {
		c := &benchOld[0]
		for i := 0; i < b.N; i++ {
			c.Inc()
		}
	})
	b.Run("new-single", func(b *testing.B) {
		c := &benchNew.Requests
		for i := 0; i < b.N; i++ {
			c.Inc()
		}
	})
}

// BenchmarkCounterAdd is a byte count, as RequestBytes takes.
func BenchmarkCounterAdd(b *testing.B) {
	b.Run("old-xchg", func(b *testing.B) {
		c := &benchOld[0]
		for i := 0; i < b.N; i++ {
			c.Add(uint64(i))
		}
	})
	b.Run("new", func(b *testing.B) {
		c := &benchNew.Requests
		for i := 0; i < b.N; i++ {
			c.Add(uint64(i))
		}
	})
}
