package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/config"
)

// Live topology: what a reload changes, and how every loop adopts it.
//
// A topology is immutable: a config and its pools. Reload builds the next
// one off the loops (backend.NextPool keeps the servers, health and stats of
// what stays), binds the listeners it adds, publishes it, and has every loop
// adopt it in a task of its own, between callbacks, so a request is routed
// by one view, never half of each. A loop keeps its pools by name (clients
// point to them and follow) and its backend connections by server: the
// connections to servers that stay are kept; those to servers that left
// drain (their FIFO is answered) and close. Clients of a pool that left get
// the replies they are owed and are closed, or closed after ReloadGrace.
type topology struct {
	// emus are the cluster emulations of the pools that have one, by pool
	// name (a slot map update replaces a cluster pool, not its emulation)
	// (cluster_fleet.go).
	emus map[string]*emulation

	cfg       *config.Config
	pools     []*backend.Pool   // in the config's order
	byListen  map[string]string // listenKey -> the name of the pool listening there
	tickEvery time.Duration     // the loops' tick: a quarter of the smallest pool timeout
}

func (t *topology) pool(name string) *backend.Pool {
	for _, p := range t.pools {
		if p.Cfg.Name == name {
			return p
		}
	}
	return nil
}

// buildTopology makes the pools of cfg, following those of prev (nil at
// start) by name. Nothing that serves changes until the pools are
// activated.
func (s *Server) buildTopology(cfg *config.Config, prev *topology) (*topology, error) {
	t := &topology{cfg: cfg, tickEvery: 50 * time.Millisecond, byListen: map[string]string{}}
	for _, pc := range cfg.Pools {
		t.byListen[listenKey(pc)] = pc.Name
		var before *backend.Pool
		if prev != nil {
			before = prev.pool(pc.Name)
		}
		p, err := backend.NextPool(pc, s.opts.Threads, before)
		if err != nil {
			return nil, err
		}
		p.SetLogger(s.log)
		t.pools = append(t.pools, p)
		if pc.Timeout > 0 && pc.Timeout/4 < t.tickEvery {
			t.tickEvery = max(pc.Timeout/4, time.Millisecond)
		}
	}
	s.buildEmulations(t, prev)
	return t, nil
}

// activate makes t's pools the owners of their servers.
func (t *topology) activate() {
	for _, p := range t.pools {
		p.Activate()
	}
	for _, e := range t.emus {
		e.start()
	}
}

// ReloadResult says what a reload changed, a line per change.
type ReloadResult struct {
	Changes []string
}

// ErrReloadBusy: another reload is being applied.
var ErrReloadBusy = errors.New("ferry: a reload is already in progress")

// Reload switches the proxy to cfg while it serves: pools added start
// listening, pools removed stop (their clients get their replies, then a
// close), pools whose servers or settings changed route each next request
// by the new ones. cfg must have been validated (config.Parse). On error
// nothing has changed.
func (s *Server) Reload(cfg *config.Config) (*ReloadResult, error) {
	if !s.reloadMu.TryLock() {
		s.reloadFailures.Add(1)
		return nil, ErrReloadBusy
	}
	defer s.reloadMu.Unlock()
	s.topoMu.Lock() // not while a cluster pool's new slot map is applied
	defer s.topoMu.Unlock()
	res, err := s.reload(cfg)
	if err != nil {
		s.reloadFailures.Add(1)
		return nil, err
	}
	s.reloads.Add(1)
	for _, c := range res.Changes {
		s.log.Info("reload: " + c)
	}
	return res, nil
}

func (s *Server) reload(cfg *config.Config) (*ReloadResult, error) {
	select {
	case <-s.booted:
	default:
		return nil, errors.New("ferry: not serving yet")
	}
	if s.serveErr != nil || s.stopping.Load() {
		return nil, errors.New("ferry: not serving")
	}
	old := s.topo.Load()
	next, err := s.buildTopology(cfg, old)
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	// Bind what is new first: a failure leaves everything as it was.
	s.mu.Lock()
	have := s.listeners
	s.mu.Unlock()
	added := map[string]*poolListener{}
	for _, pc := range cfg.Pools {
		k := listenKey(pc)
		if have[k] != nil || added[k] != nil {
			continue
		}
		l, err := listen(pc)
		if err != nil {
			for _, l := range added {
				_ = l.ln.Close()
			}
			return nil, fmt.Errorf("reload: %w", err)
		}
		added[k] = l
	}
	res := &ReloadResult{Changes: describeChanges(old, next)}

	// Commit.
	next.activate()
	s.topo.Store(next)
	s.mu.Lock()
	listeners := map[string]*poolListener{}
	var closing []*poolListener
	for _, pc := range cfg.Pools {
		k := listenKey(pc)
		l := have[k]
		if l == nil {
			l = added[k]
			go s.acceptLoop(l)
		}
		listeners[k] = l
	}
	for k, l := range have {
		if listeners[k] == nil {
			closing = append(closing, l)
		}
	}
	s.listeners = listeners
	s.cfg = cfg
	s.mu.Unlock()
	for _, l := range closing {
		_ = l.ln.Close()
		<-l.done
	}
	// Every loop adopts the new view; waited for, so that the caller
	// (POST /reload, a test) sees it applied.
	s.adoptAll(next)
	s.syncLearners(next) // redis_cluster pools added, removed or changed
	// The pools replaced or removed: their probers stop, except for the
	// servers that moved to the new pools.
	for _, p := range old.pools {
		p.Close()
	}
	closeEmulations(old, next)
	return res, nil
}

// describeChanges lists what differs between two topologies.
func describeChanges(old, next *topology) []string {
	var out []string
	for _, p := range next.pools {
		o := old.pool(p.Cfg.Name)
		if o == nil {
			out = append(out, fmt.Sprintf("pool %s added, listening on %s", p.Cfg.Name, p.Cfg.Listen))
			continue
		}
		if o.Cfg.Listen != p.Cfg.Listen {
			out = append(out, fmt.Sprintf("pool %s: listen %s -> %s", p.Cfg.Name, o.Cfg.Listen, p.Cfg.Listen))
		}
		before := len(out)
		was := map[*backend.Server]bool{}
		for _, sv := range o.Servers {
			was[sv] = true
		}
		now := map[*backend.Server]bool{}
		for _, sv := range p.Servers {
			now[sv] = true
			if !was[sv] {
				out = append(out, fmt.Sprintf("pool %s: server %s (%s) added", p.Cfg.Name, sv.Name, sv.Addr))
			}
		}
		for _, sv := range o.Servers {
			if !now[sv] {
				out = append(out, fmt.Sprintf("pool %s: server %s (%s) removed", p.Cfg.Name, sv.Name, sv.Addr))
			}
		}
		if len(out) == before && !config.SameServers(o.Cfg, p.Cfg) {
			out = append(out, fmt.Sprintf("pool %s: servers' weights or order changed", p.Cfg.Name))
		}
		if d := config.DiffPool(o.Cfg, p.Cfg); len(d) > 0 {
			out = append(out, fmt.Sprintf("pool %s: %s changed", p.Cfg.Name, strings.Join(d, ", ")))
		}
	}
	for _, p := range old.pools {
		if next.pool(p.Cfg.Name) == nil {
			out = append(out, fmt.Sprintf("pool %s removed", p.Cfg.Name))
		}
	}
	if len(out) == 0 {
		out = append(out, "no change")
	}
	return out
}

// adopt switches the loop to t: its pools by name, its connections by
// server. It runs on the loop, between callbacks (and at the loop's start).
func (lp *loop) adopt(t *topology) {
	if lp.topo == t {
		return
	}
	lp.tick()
	prevPools := lp.byName
	byName := make(map[string]*loopPool, len(t.pools))
	pools := make([]*loopPool, 0, len(t.pools))
	conns := make(map[*backend.Server][]*backendConn, len(lp.conns))
	for _, p := range t.pools {
		lpool := prevPools[p.Cfg.Name]
		if lpool != nil && poolProtocol(lpool.pool.Cfg) != poolProtocol(p.Cfg) {
			// Its clients speak the old protocol: they are closed as those
			// of a removed pool, and new ones get the new pool.
			lpool.removed, lpool.removedAt = true, lp.now
			lpool = nil
		}
		if lpool == nil {
			lpool = &loopPool{}
		}
		lpool.pool, lpool.shard, lpool.removed = p, &p.Shards[lp.idx], false
		lpool.slowlog = int64(p.Cfg.SlowlogThreshold)
		lpool.conns = make([][]*backendConn, len(p.Servers))
		for si, sv := range p.Servers {
			cs := lp.connsTo(lpool, sv, lp.conns[sv])
			lpool.conns[si] = cs
			conns[sv] = cs
		}
		byName[p.Cfg.Name] = lpool
		pools = append(pools, lpool)
	}
	for sv, cs := range lp.conns {
		if conns[sv] == nil {
			for _, bc := range cs {
				lp.retire(bc) // its server left
			}
		}
	}
	for name, lpool := range prevPools {
		if byName[name] != lpool && !lpool.removed {
			lpool.removed, lpool.removedAt = true, lp.now
		}
	}
	lp.topo, lp.pools, lp.byName, lp.conns = t, pools, byName, conns
	for _, lpool := range prevPools {
		lp.retryParked(lpool) // redirected to a node the new map may name
	}
	for i := len(lp.clients) - 1; i >= 0; i-- {
		lp.clients[i].checkMapWait() // a cluster pool's first map
	}
	// Clients of a pool that left: what they are owed, then a close.
	for _, list := range [][]*client{lp.clients, lp.halfClosed} {
		for _, cl := range list {
			if cl.lpool.removed && !cl.closing {
				cl.closing = true
				lp.markClient(cl)
			}
		}
	}
	lp.flush()
}

// connsTo is the loop's connections to server sv of lpool's new pool,
// following cs, those it had: as many as server_connections gives this
// loop (handoff.go's connShare in scope "process"), or a relay to the loop
// that owns them. Those no longer wanted drain and close.
func (lp *loop) connsTo(lpool *loopPool, sv *backend.Server, cs []*backendConn) []*backendConn {
	cfg := lpool.pool.Cfg
	n, owner := max(cfg.ServerConnections, 1), lp.idx
	if cfg.ServerConnectionsScope == config.ScopeProcess {
		n, owner = connShare(sv.Addr, n, max(lp.srv.opts.Threads, 1), lp.idx)
	}
	if n == 0 {
		if len(cs) == 1 && cs[0].state == stateRelay && cs[0].owner == owner {
			cs[0].lpool = lpool
			return cs
		}
		for _, bc := range cs {
			lp.retire(bc) // its requests go to another loop now
		}
		return []*backendConn{newRelay(lp, lpool, sv, owner)}
	}
	kept := make([]*backendConn, 0, n)
	for _, bc := range cs {
		if bc.state == stateRelay || len(kept) == n {
			lp.retire(bc) // this loop owns connections now, or server_connections was lowered
			continue
		}
		kept = append(kept, bc)
	}
	for len(kept) < n {
		bc := newBackendConn(lp, lpool, sv)
		kept = append(kept, bc)
		if cfg.Preconnect {
			bc.dial()
		}
	}
	for _, bc := range kept {
		bc.lpool = lpool
	}
	return kept
}

// adoptAll has every loop adopt t, and waits for them.
func (s *Server) adoptAll(t *topology) {
	s.mu.Lock()
	loops := slices.Clone(s.loopList)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, lp := range loops {
		wg.Add(1)
		task := gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			lp.adopt(t)
			return nil
		})
		if err := lp.el.Execute(context.Background(), task); err != nil {
			wg.Done()
		}
	}
	wg.Wait()
}

// retire takes bc out of service: no request is routed to it any more, and
// it is closed as soon as the requests it carries are answered.
func (lp *loop) retire(bc *backendConn) {
	if bc.retiring {
		return
	}
	bc.retiring, bc.retiredAt = true, lp.now
	lp.retired = append(lp.retired, bc)
	bc.closeIfDrained()
}

// sweepRetired forgets the retired connections that are closed.
func (lp *loop) sweepRetired() {
	kept := lp.retired[:0]
	for _, bc := range lp.retired {
		bc.closeIfDrained()
		if bc.state != stateIdle {
			kept = append(kept, bc)
		}
	}
	clear(lp.retired[len(kept):])
	lp.retired = kept
}

// checkRemovedPools closes the clients of removed pools that are still
// waiting for replies after the grace limit.
func (lp *loop) checkRemovedPools() {
	grace := int64(lp.srv.opts.ReloadGrace)
	for i := len(lp.clients) - 1; i >= 0; i-- {
		cl := lp.clients[i]
		if cl.lpool.removed && cl.open && lp.now-cl.lpool.removedAt >= grace {
			_ = lp.el.Close(cl.gc)
		}
	}
	for i := len(lp.halfClosed) - 1; i >= 0; i-- {
		cl := lp.halfClosed[i]
		if cl.lpool.removed && lp.now-cl.lpool.removedAt >= grace {
			cl.half.abort()
			cl.endHalf()
		}
	}
}
