// Package worker holds per-event-loop state that is not protocol specific:
// the loop's shard of the statistics and latency histograms. Each loop writes only its own shard;
// scrapes read every shard and add them up, so the hot path takes no lock
// and shares no cache line with another loop.
package worker

import "sync/atomic"

// Counter is a single-writer counter: only its loop adds to it, any
// goroutine may read it, and the hot path takes no locked instruction.
//
// The value lives in an atomic.Uint64 (64-bit aligned on every platform,
// and go vet's copylocks check flags a copy). Readers always use its
// atomic Load, which is a plain MOV on amd64 and an LDAR on arm64. How the
// writer stores depends on the build (counter_plain.go, counter_atomic.go):
//
//   - amd64 and arm64 without -race: a plain load, add and store (see
//     counter_plain.go for why a concurrent Load still reads a whole,
//     never decreasing value).
//   - -race, and every other platform: the writer keeps its own plain copy
//     (w) and publishes it with an atomic Store (on amd64 an XCHG, what
//     every build paid before). Under -race a second writer goroutine is
//     reported as a race on w, so the race tests also check the
//     single-writer rule that the plain store relies on.
type Counter struct {
	w counterWriter // zero size in the plain build; first, so it adds no padding
	v atomic.Uint64
}

// Load reads the value from any goroutine.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a single-writer up/down value, kept as [Counter] is.
type Gauge struct {
	w gaugeWriter
	v atomic.Int64
}

// Load reads the value from any goroutine.
func (g *Gauge) Load() int64 { return g.v.Load() }

// PoolStats are twemproxy's per-pool counters, one shard per loop.
type PoolStats struct {
	ClientConnections Gauge   // curr client connections
	TotalConnections  Counter // accepted client connections
	ClientEOF         Counter
	ClientErr         Counter
	ForwardError      Counter // requests failed because a server was unavailable
	Fragments         Counter // fragments created by multi-key splits
	Requests          Counter
	Moved             Counter  // redis_cluster: -MOVED replies followed
	Asked             Counter  // redis_cluster: -ASK replies followed
	_                 [64]byte // keep shards of different loops off one cache line
}

// ServerStats are twemproxy's per-server counters, one shard per loop.
type ServerStats struct {
	ServerEOF         Counter
	ServerErr         Counter
	ServerTimedout    Counter
	ServerConnections Gauge
	Requests          Counter
	RequestBytes      Counter
	Responses         Counter
	ResponseBytes     Counter
	InQueue           Gauge    // requests waiting to be sent or in flight
	_                 [64]byte // keep shards of different loops off one cache line
}

// PoolShard is one loop's counters and latency histograms of one pool. A
// pool has one per loop (backend.Pool.Shards), kept across reloads while
// the pool keeps its name, so its stats survive a change of its servers.
type PoolShard struct {
	PoolStats
	Latency [Classes]Latency // by command class
}

// PublishLatency publishes the shard's latency histograms (see
// [Latency.Publish]). Only the owning loop may call it.
func (s *PoolShard) PublishLatency() {
	for c := range s.Latency {
		s.Latency[c].Publish()
	}
}
