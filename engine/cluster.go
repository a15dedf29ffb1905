package engine

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/backend/cluster"
)

// Redis Cluster backends (`distribution: redis_cluster`).
//
// A cluster pool's servers are the masters of its latest slot map. A
// learner goroutine per pool (clusterLearner) reads the map with CLUSTER
// SLOTS from a known master or a seed: at start (retrying until one
// answers), every clusterRefreshEvery, and when a loop asks (after a MOVED
// or a failed connection; requests coalesce, one read at a time). A map that
// differs becomes a new backend.Pool, swapped in by updatePool through the
// reload path: each loop adopts it between callbacks, keeps its connections
// to the masters that stay and drains those to the ones that left.
//
// On the loops:
//   - until the first map is in, a client's input is not parsed (it waits
//     like a throttled client) for up to the pool's timeout, else
//     clusterMapWait; then its requests are answered CLUSTERDOWN;
//   - a request keeps its bytes (r.out) until its reply is in, so that a
//     -MOVED or -ASK reply can send it again: to the named node (ASKING
//     first for ASK), at most maxRedirects times, in its place in its
//     client's queue. A node the map does not name yet waits (parked) for
//     the refresh the MOVED asked for;
//   - multi-key commands are split per slot (Redis refuses keys of several
//     slots in one command, even on one node), and commands that must run
//     on one server need their keys in one slot (CROSSSLOT otherwise).

const (
	clusterRefreshEvery = 10 * time.Second
	clusterMinGap       = 50 * time.Millisecond // between two reads of the map
	clusterMapWait      = 5 * time.Second       // a request's wait for the first map, without a pool timeout
	maxRedirects        = 5
	clusterFetchLimit   = time.Second // one node's CLUSTER SLOTS
)

var (
	replyNoSlotMap   = []byte("-CLUSTERDOWN ferry: the cluster's slot map is not known yet (no seed or node answered CLUSTER SLOTS)\r\n")
	replySlotUnowned = []byte("-CLUSTERDOWN Hash slot not served\r\n")
	replyCrossSlot   = []byte("-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	replyUnknownNode = []byte("-ERR ferry: redirected to a cluster node the slot map does not name (yet)\r\n")
	replyMasterDown  = []byte("-CLUSTERDOWN ferry: the master of this slot is down and no other took its slots in time\r\n")
	askingCmd        = []byte("*1\r\n$6\r\nASKING\r\n")
)

// mapWait is how long requests wait for a cluster pool's first map.
func mapWait(p *backend.Pool) int64 {
	if p.Cfg.Timeout > 0 {
		return int64(p.Cfg.Timeout)
	}
	return int64(clusterMapWait)
}

// clusterLearner reads one cluster pool's slot map.
type clusterLearner struct {
	s      *Server
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// syncLearners runs one learner per cluster pool of t and stops those of
// pools that left it or stopped being cluster pools.
func (s *Server) syncLearners(t *topology) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.learners == nil {
		s.learners = map[string]*clusterLearner{}
	}
	want := map[string]bool{}
	for _, p := range t.pools {
		if !p.IsCluster() {
			continue
		}
		want[p.Cfg.Name] = true
		if s.learners[p.Cfg.Name] != nil {
			if p.SlotMap() == nil {
				p.RequestRefresh() // a reload that dropped the map (new credentials)
			}
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		l := &clusterLearner{s: s, name: p.Cfg.Name, cancel: cancel, done: make(chan struct{})}
		s.learners[p.Cfg.Name] = l
		go l.run(ctx)
	}
	for name, l := range s.learners {
		if !want[name] {
			l.cancel()
			delete(s.learners, name)
		}
	}
}

// stopLearners stops every learner and waits for them.
func (s *Server) stopLearners() {
	s.mu.Lock()
	ls := s.learners
	s.learners = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.cancel()
		<-l.done
	}
}

func (l *clusterLearner) run(ctx context.Context) {
	defer close(l.done)
	var lastErr string
	backoff := 20 * time.Millisecond
	for {
		p := l.s.topo.Load().pool(l.name)
		if p == nil || !p.IsCluster() {
			return // syncLearners stops it
		}
		m, err := l.fetch(ctx, p)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				l.s.log.Warn("redis cluster: cannot read the slot map", "pool", l.name, "err", err)
			}
		case p.SlotMap() == nil && !m.Complete():
			err = errIncompleteMap
			if msg := err.Error() + m.From; msg != lastErr {
				lastErr = msg
				l.s.log.Warn("redis cluster: slot map not complete yet, waiting", "pool", l.name, "from", m.From)
			}
		default:
			if lastErr != "" {
				l.s.log.Info("redis cluster: slot map read again", "pool", l.name, "from", m.From)
				lastErr = ""
			}
			if !m.Equal(p.SlotMap()) {
				l.s.updatePool(l.name, m)
			}
		}
		wait := clusterRefreshEvery
		if err != nil && p.SlotMap() == nil {
			wait = backoff // seeds down at start: retry soon
			backoff = min(backoff*2, time.Second)
		} else {
			backoff = 20 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.RefreshRequests():
			t.Stop()
		}
		// Requests made while this read ran coalesce into the next one,
		// and reads are spaced out under a storm of MOVED.
		select {
		case <-ctx.Done():
			return
		case <-time.After(clusterMinGap):
		}
	}
}

type learnerError string

func (e learnerError) Error() string { return string(e) }

const errIncompleteMap = learnerError("slot map does not cover all 16384 slots")

// fetch reads the map from the first node that answers: the masters of the
// current map, then the seeds.
func (l *clusterLearner) fetch(ctx context.Context, p *backend.Pool) (*cluster.Map, error) {
	var nodes []string
	for _, sv := range p.Servers {
		nodes = append(nodes, sv.Addr)
	}
	for _, sv := range p.Cfg.Servers {
		if !slices.Contains(nodes, sv.Addr) {
			nodes = append(nodes, sv.Addr)
		}
	}
	// A node that hangs (stopped, overloaded) must not hold the map back:
	// CLUSTER SLOTS answers in microseconds.
	limit := min(backend.DialLimit(p.Cfg.Timeout), clusterFetchLimit)
	var errs []string
	for _, addr := range nodes {
		m, err := cluster.Fetch(ctx, addr, p.Cfg.RedisAuth, limit)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err.Error())
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, learnerError("no node answered: " + joinErrs(errs))
}

func joinErrs(errs []string) string {
	var b bytes.Buffer
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e)
	}
	return b.String()
}

// updatePool publishes the cluster pool name with the slot map m, and
// waits until every loop routes by it.
func (s *Server) updatePool(name string, m *cluster.Map) {
	s.topoMu.Lock()
	defer s.topoMu.Unlock()
	if s.stopping.Load() {
		return
	}
	old := s.topo.Load()
	prev := old.pool(name)
	if prev == nil || !prev.IsCluster() {
		return
	}
	np := backend.NextClusterPool(prev, m)
	np.SetLogger(s.log)
	// The same topology but for this pool: a copy, so that whatever else
	// it holds (the config, the tick, lookups by listener) carries over.
	nt := *old
	nt.pools = slices.Clone(old.pools)
	next := &nt
	for i, p := range next.pools {
		if p == prev {
			next.pools[i] = np
		}
	}
	np.Activate()
	s.topo.Store(next)
	// A reshard changes the map slot by slot: logged at Info only when the
	// masters change (and for the first map).
	level := slog.LevelDebug
	if pm := prev.SlotMap(); pm == nil || !slices.Equal(pm.Masters, m.Masters) {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "redis cluster: slot map applied", "pool", name, "from", m.From, "masters", strings.Join(m.Masters, " "))
	s.adoptAll(next)
	prev.Close()
}

// awaitingMap reports whether the client must wait before its next request
// is parsed: its pool is a cluster pool with no slot map yet, and it has
// not waited mapWait.
func (cl *client) awaitingMap() bool {
	p := cl.lpool.pool
	if p.HasSlotMap() {
		if cl.mapWaitFrom != 0 {
			cl.mapWaitFrom = 0
		}
		return false
	}
	if cl.mapWaitFrom == 0 {
		cl.mapWaitFrom = cl.lp.now
	}
	if cl.lp.now-cl.mapWaitFrom < mapWait(p) {
		cl.waitingMap = true
		return true
	}
	return false // waited enough: its requests are answered CLUSTERDOWN
}

// checkMapWait resumes a client waiting for its pool's first map once the
// map is in or the wait is over.
func (cl *client) checkMapWait() {
	if !cl.waitingMap || !cl.open {
		return
	}
	p := cl.lpool.pool
	if p.HasSlotMap() || cl.lp.now-cl.mapWaitFrom >= mapWait(p) {
		cl.waitingMap, cl.throttled = false, false
		_ = cl.gc.Wake(nil)
	}
}

// noServer counts a request whose key has no server to go to as a forward
// error, as twemproxy does, and returns its error reply (redis and memcache
// text; a binary reply is built per request).
func (cl *client) noServer() []byte {
	cl.stats.ForwardError.Inc()
	p := cl.lpool.pool
	switch {
	case cl.proto == protoMemcache:
		return replyMCNoServer
	case !p.IsCluster():
		return replyNoServer
	case !p.HasSlotMap():
		return replyNoSlotMap
	}
	return replySlotUnowned
}

// isRedirect reports whether reply is -MOVED or -ASK.
func isRedirect(reply []byte) bool {
	return len(reply) > 6 && reply[0] == '-' &&
		(bytes.HasPrefix(reply, []byte("-MOVED ")) || bytes.HasPrefix(reply, []byte("-ASK ")))
}

// parseRedirect reads "-MOVED slot host:port\r\n" or "-ASK slot host:port\r\n".
func parseRedirect(reply []byte) (ask bool, addr []byte, ok bool) {
	line := reply[1 : len(reply)-2]
	ask = line[0] == 'A'
	sp := bytes.IndexByte(line, ' ')
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return false, nil, false
	}
	if _, err := strconv.Atoi(string(rest[:sp])); err != nil {
		return false, nil, false
	}
	addr = rest[sp+1:]
	return ask, addr, len(addr) > 0
}

// redirect follows a -MOVED or -ASK reply to r, which came on from.
func (lp *loop) redirect(from *backendConn, r *request, reply []byte) {
	lpool := from.lpool
	p := lpool.pool
	ask, addr, ok := parseRedirect(reply)
	if !ask {
		p.RequestRefresh()
	}
	orphan := r.cli == nil && r.parent == nil
	if !ok || orphan || r.redirects >= maxRedirects || r.out == nil {
		lp.complete(r, reply, true)
		return
	}
	r.redirects++
	r.asking = ask
	if ask {
		lpool.shard.Asked.Inc()
	} else {
		lpool.shard.Moved.Inc()
	}
	si := p.ServerIndex(addr)
	if si < 0 {
		// A node the map does not name: wait for the map that does.
		p.RequestRefresh()
		if cap(r.moveTo) < len(addr) {
			freeBuf(r.moveTo)
			r.moveTo = ownedBuf(len(addr))
		}
		r.moveTo = append(r.moveTo[:0], addr...)
		lp.park(lpool, r)
		return
	}
	lp.resend(lpool, r, si)
}

// park holds r in lpool: until the map names r.moveTo when it is set, else
// until the master of r's slot is up or another master serves the slot.
// retryParked looks again at every map change and every tick.
func (lp *loop) park(lpool *loopPool, r *request) {
	if r.parkedAt == 0 {
		r.parkedAt = lp.now
	}
	lpool.parked = append(lpool.parked, r)
}

// holdForFailover parks a request of a cluster pool that would be refused
// because its master is down: a replica may be about to take the master's
// slots (a failover takes about cluster-node-timeout), and the request, not
// yet sent, can then go there. It waits at most the map wait.
func (bc *backendConn) holdForFailover(r *request) bool {
	p := bc.lpool.pool
	if !p.IsCluster() || r.internal || r.out == nil || r.noreply {
		return false
	}
	p.RequestRefresh()
	r.moveTo = r.moveTo[:0]
	bc.lp.park(bc.lpool, r)
	return true
}

// resend sends r to server si of lpool (after ASKING when r.asking).
func (lp *loop) resend(lpool *loopPool, r *request, si int) {
	cl := r.cli
	if r.parent != nil {
		cl = r.parent.cli
	}
	var slot uint32
	if cl != nil {
		slot = cl.connSlot
	}
	cs := lpool.conns[si]
	bc := cs[slot%uint32(len(cs))]
	if r.asking {
		r.asking = false
		a := lp.getReq()
		a.internal = true
		a.out = append(ownedBuf(len(askingCmd)), askingCmd...)
		bc.enqueue(a, a.out)
	}
	bc.enqueue(r, r.out)
}

// retryParked sends the parked requests whose node the pool now names, and
// fails those that waited longer than the map wait.
func (lp *loop) retryParked(lpool *loopPool) {
	if len(lpool.parked) == 0 {
		return
	}
	p := lpool.pool
	list := lpool.parked
	lpool.parked = nil // a resend may park again
	for _, r := range list {
		si := -1
		if !lpool.removed && p.IsCluster() {
			if len(r.moveTo) > 0 {
				si = p.ServerIndex(r.moveTo)
			} else if o := p.SlotOwner(r.slot); o >= 0 && !p.Servers[o].Down() {
				si = o
			}
		}
		switch {
		case si >= 0:
			r.moveTo = r.moveTo[:0]
			lp.resend(lpool, r, si)
		case lpool.removed || !p.IsCluster() || lp.now-r.parkedAt >= mapWait(p):
			reply := replyMasterDown
			if len(r.moveTo) > 0 {
				reply = replyUnknownNode
			}
			lpool.shard.ForwardError.Inc()
			lp.complete(r, reply, false)
		default:
			lpool.parked = append(lpool.parked, r)
		}
	}
	if len(lpool.parked) > 0 && p.IsCluster() {
		// Their clients may send nothing more until these are answered:
		// keep reading the map (coalesced) until it names a way out.
		p.RequestRefresh()
	}
}
