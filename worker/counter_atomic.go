//go:build !(amd64 || arm64) || race

package worker

// The writer's side of Counter and Gauge under the race detector and on
// platforms other than amd64 and arm64 (where a 64-bit word may be wider
// than a machine word, or the plain store path is not verified): the
// writer counts in its own plain copy and publishes every change with an
// atomic Store, so a reader's Load is race free by the memory model alone.
//
// The writer never reads the shared word: under -race, a plain write to
// the copy by a second goroutine that no synchronisation orders after the
// first writer's is reported as a data race (an atomic Store only
// releases, it does not acquire), so the race tests hold every counter to
// the single-writer rule the plain build (counter_plain.go) relies on.

// counterWriter is the writer's own copy of a Counter.
type counterWriter struct{ n uint64 }

// gaugeWriter is the writer's own copy of a Gauge.
type gaugeWriter struct{ n int64 }

// Inc adds one. Only the owning loop may call it.
func (c *Counter) Inc() {
	c.w.n++
	c.v.Store(c.w.n)
}

// Add adds n. Only the owning loop may call it.
func (c *Counter) Add(n uint64) {
	c.w.n += n
	c.v.Store(c.w.n)
}

// Add adds n (may be negative). Only the owning loop may call it.
func (g *Gauge) Add(n int64) {
	g.w.n += n
	g.v.Store(g.w.n)
}

// Set stores n. Only the owning loop may call it.
func (g *Gauge) Set(n int64) {
	g.w.n = n
	g.v.Store(n)
}
