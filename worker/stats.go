// Package worker holds per-event-loop state that is not protocol specific:
// the loop's shard of the statistics and latency histograms. Each loop writes only its own shard;
// scrapes read every shard and add them up, so the hot path takes no lock
// and shares no cache line with another loop.
package worker

import "sync/atomic"

// Counter is a single-writer counter: only its loop increments it (a plain
// load and store, no locked instruction), any goroutine may read it.
type Counter struct{ v atomic.Uint64 }

// Inc adds one. Only the owning loop may call it.
func (c *Counter) Inc() { c.v.Store(c.v.Load() + 1) }

// Add adds n. Only the owning loop may call it.
func (c *Counter) Add(n uint64) { c.v.Store(c.v.Load() + n) }

// Load reads the value from any goroutine.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a single-writer up/down value.
type Gauge struct{ v atomic.Int64 }

// Add adds n (may be negative). Only the owning loop may call it.
func (g *Gauge) Add(n int64) { g.v.Store(g.v.Load() + n) }

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
