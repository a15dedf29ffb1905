package backend

import (
	"context"
	"github.com/ferry-proxy/ferry/backend/cluster"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/worker"
	"log/slog"
	"sync/atomic"
	"time"
)

// A redis_cluster pool is a Pool whose Servers are the cluster's masters,
// as its latest slot map names them, and whose Pick is a slot table: the
// engine learns the map off the loops (CLUSTER SLOTS) and swaps in the pool
// that follows it (NextClusterPool), so a map change travels the same path
// as a reload: masters that stay keep their *Server (and the loops their
// connections), those that left drain.

// nextClusterPool builds the cluster pool that follows prev with the slot
// map m; a nil m keeps prev's map (a reload), or starts with none.
func nextClusterPool(cfg *config.Pool, loops int, prev *Pool, m *cluster.Map) (*Pool, error) {
	p := &Pool{Cfg: cfg, cluster: true, nowFn: time.Now, log: slog.New(slog.DiscardHandler)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	kept := map[string]*Server{}
	if prev != nil {
		p.Shards, p.Clients, p.log = prev.Shards, prev.Clients, prev.log
		if prev.cluster {
			p.refresh = prev.refresh
			if SameConnections(prev.Cfg, cfg) {
				for _, s := range prev.Servers {
					kept[s.Addr] = s
				}
				if m == nil {
					m = prev.slotMap
				}
			}
		}
	}
	if p.Shards == nil {
		p.Shards, p.Clients = make([]worker.PoolShard, loops), new(atomic.Int64)
	}
	if p.refresh == nil {
		p.refresh = make(chan struct{}, 1)
	}
	if m == nil {
		return p, nil
	}
	for _, addr := range m.Masters {
		srv := kept[addr]
		if srv == nil {
			srv = &Server{Addr: addr, Network: "tcp", Name: addr, Shards: make([]worker.ServerStats, loops)}
		}
		p.Servers = append(p.Servers, srv)
	}
	p.slotMap = m
	p.slots = &m.Owner
	return p, nil
}

// NextClusterPool is the pool that follows the cluster pool prev once the
// slot map m is learned: the same config, the masters of m (those already
// known keep their *Server). Activate it when it is published.
func NextClusterPool(prev *Pool, m *cluster.Map) *Pool {
	p, _ := nextClusterPool(prev.Cfg, len(prev.Shards), prev, m)
	return p
}

// IsCluster reports whether p is a redis_cluster pool.
func (p *Pool) IsCluster() bool { return p.cluster }

// SlotMap is the slot map p routes by; nil for a cluster pool that has not
// learned one yet, and for other pools.
func (p *Pool) SlotMap() *cluster.Map { return p.slotMap }

// HasSlotMap reports whether a cluster pool can route: its first slot map
// is learned. Always true for other pools.
func (p *Pool) HasSlotMap() bool { return !p.cluster || p.slots != nil }

// pickSlot is Pick for a cluster pool: the index of the slot's master, or
// -1 when no map is learned yet or no master serves the slot.
func (p *Pool) pickSlot(key []byte) int { return p.SlotOwner(cluster.Slot(key)) }

// SlotOwner is the index in Servers of the master of slot, or -1 when no map
// is learned yet or no master serves the slot. Cluster pools only.
func (p *Pool) SlotOwner(slot uint16) int {
	if p.slots == nil {
		return -1
	}
	o := p.slots[slot&(cluster.Slots-1)]
	if o == cluster.Unassigned {
		return -1
	}
	return int(o)
}

// ServerIndex returns the index in Servers of the server at addr, or -1.
// For redirects (MOVED, ASK): not on the steady path.
func (p *Pool) ServerIndex(addr []byte) int {
	for i, s := range p.Servers {
		if s.Addr == string(addr) {
			return i
		}
	}
	return -1
}

// RequestRefresh asks for the slot map to be read again. It never blocks:
// requests made while one is pending coalesce into it.
func (p *Pool) RequestRefresh() {
	select {
	case p.refresh <- struct{}{}:
	default:
	}
}

// RefreshRequests delivers RequestRefresh's requests to the map learner.
func (p *Pool) RefreshRequests() <-chan struct{} { return p.refresh }
