package engine

import (
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/worker"
)

// loop is the state one gnet event loop owns: its backend connections to
// every server of every pool, its clients, free lists, and the lists of
// connections with output waiting for the end of the current callback.
// Only code running on that loop touches it.
type loop struct {
	srv *Server
	el  gnet.EventLoop
	idx int

	// The topology this loop routes by (see topology.go): its pools, in the
	// config's order and by name, and its connections by server.
	topo    *topology
	pools   []*loopPool
	byName  map[string]*loopPool
	conns   map[*backend.Server][]*backendConn
	retired []*backendConn // connections to servers that left, until drained

	clients    []*client // for ticks (idle timeout, throttled wake-ups)
	halfClosed []*client // clients that shut down their sending side with replies owed (see halfclose.go)

	freeReqs []*request

	dirtyBackends []*backendConn
	dirtyClients  []*client
	// deferred requests are freed after the current callback's writes: their
	// buffers may still be referenced by queued iovecs until then.
	deferred []*request

	keySrv  []int32 // split scratch: server of each key
	keyGrp  []int32 // split scratch (cluster pools): slot of each key
	fragIdx []int32 // split scratch: server -> fragment, -1 when none

	now      int64 // unix nanos, refreshed once per callback
	tickTask gnet.Runnable
	flushing bool

	held    int64        // bytes gnet holds for this loop's clients (see client.account)
	heldPub atomic.Int64 // held, published for the other loops on each tick
	over    bool         // the global cap is exceeded: parse nothing new
	slow    slowLog      // rate limit of the slow request log

	ho handoff // requests and replies handed between loops (handoff.go)
}

// loopPool is a pool as seen by one loop: its connections to each server.
// A reload updates it in place (adopt), so the clients pointing to it route
// their next request by the new view.
type loopPool struct {
	pool  *backend.Pool
	shard *worker.PoolShard // this loop's counters of the pool
	conns [][]*backendConn  // [server][server_connections]
	next  uint32            // hands clients their connection slot, round robin

	slowlog int64 // slowlog_threshold_ms in nanoseconds; 0 = off

	// parked: requests redirected (MOVED/ASK) to a cluster node the pool's
	// map does not name yet, waiting for the refresh (cluster.go).
	parked []*request

	removed   bool  // the pool left the config: its clients are closing
	removedAt int64 // when (lp.now), for the reload grace limit
}

func newLoop(srv *Server, el gnet.EventLoop, idx int) *loop {
	lp := &loop{srv: srv, el: el, idx: idx}
	lp.initHandoff(max(srv.opts.Threads, 1))
	lp.tick()
	lp.adopt(srv.topo.Load())
	return lp
}

// tick refreshes lp.now, and publishes it for the relays of other loops
// (a plain store: see worker.Gauge).
func (lp *loop) tick() {
	lp.now = time.Now().UnixNano()
	lp.ho.heartbeat.Set(lp.now)
}

func (lp *loop) getReq() *request {
	if n := len(lp.freeReqs); n > 0 {
		r := lp.freeReqs[n-1]
		lp.freeReqs = lp.freeReqs[:n-1]
		return r
	}
	return &request{}
}

// putReq recycles r and its fragments. Their buffers are returned to the pool.
func (lp *loop) putReq(r *request) {
	for _, f := range r.frags {
		lp.putReq(f)
	}
	if r.replyOwned {
		freeBuf(r.reply)
	}
	if cap(r.out) > 0 {
		freeBuf(r.out)
	}
	if cap(r.moveTo) > 0 {
		freeBuf(r.moveTo)
	}
	frags, owner := r.frags[:0], r.owner[:0]
	*r = request{frags: frags, owner: owner}
	if len(lp.freeReqs) < 4096 {
		lp.freeReqs = append(lp.freeReqs, r)
	}
}

// release frees r once the current callback's writes are done.
func (lp *loop) release(r *request) { lp.deferred = append(lp.deferred, r) }

func (lp *loop) markBackend(bc *backendConn) {
	if !bc.dirty {
		bc.dirty = true
		lp.dirtyBackends = append(lp.dirtyBackends, bc)
	}
}

func (lp *loop) markClient(cl *client) {
	if !cl.dirty {
		cl.dirty = true
		lp.dirtyClients = append(lp.dirtyClients, cl)
	}
}

// flush ends a callback (or a task) that may have queued output. With
// more than one client on the loop, the writes wait for the end of the loop
// iteration (onIterationEnd), where they leave once for every connection of
// the iteration: the other connections of this loop may have more for the
// same servers and clients. gnet calls OnIterationEnd after the events of
// each poll and the tasks that poll ran, before it polls again, so nothing
// queued on the loop waits past the iteration; this costs no wake-up and no
// allocation. With one client, or NoCoalesce, flush writes at once:
// requests to backends first (so their replies start coming), then replies
// to clients. Either way it frees what was waiting for the writes.
func (lp *loop) flush() {
	if lp.flushing {
		return // nested (a close inside a write): the outer flush finishes the work
	}
	lp.flushing = true
	defer func() { lp.flushing = false }()
	if (len(lp.dirtyBackends)+len(lp.dirtyClients) > 0 || lp.ho.mail.Sent()) && (len(lp.clients) <= 1 || lp.srv.opts.NoCoalesce) {
		lp.writeAll()
	}
	// Queued bytes are copies: requests can go back to the free list now.
	for i, r := range lp.deferred {
		lp.putReq(r)
		lp.deferred[i] = nil
	}
	lp.deferred = lp.deferred[:0]
	lp.freeDeferredBufs()
}

// writeAll writes what every dirty connection has queued: requests to
// backends first (so their replies start coming), then replies to clients.
// A failing backend write completes requests, which marks clients: both
// lists are walked by index so those are written too.
func (lp *loop) writeAll() {
	for len(lp.dirtyBackends) > 0 || len(lp.dirtyClients) > 0 {
		lp.flushBackends()
		lp.flushClients()
	}
	lp.wakePeers() // after the writes: what was handed over this iteration
}

func (lp *loop) flushClients() {
	for i := 0; i < len(lp.dirtyClients); i++ {
		cl := lp.dirtyClients[i]
		lp.dirtyClients[i] = nil
		cl.dirty = false
		cl.flush()
	}
	lp.dirtyClients = lp.dirtyClients[:0]
}

func (lp *loop) flushBackends() {
	for i := 0; i < len(lp.dirtyBackends); i++ {
		bc := lp.dirtyBackends[i]
		lp.dirtyBackends[i] = nil
		bc.dirty = false
		bc.flush()
	}
	lp.dirtyBackends = lp.dirtyBackends[:0]
}

// onIterationEnd runs on the loop once gnet has handled every event of one
// poll and the tasks that poll ran (Server.OnIterationEnd): it writes what
// they queued for backends and clients, one write per connection.
func (lp *loop) onIterationEnd() {
	if lp.ho.mail.Pending() {
		lp.drainInbox() // tickets from other loops (handoff.go): their writes follow
	}
	if len(lp.dirtyBackends)+len(lp.dirtyClients) > 0 || lp.ho.mail.Sent() {
		lp.tick()
		lp.flushing = true
		lp.writeAll()
		lp.flushing = false
	}
	if len(lp.deferred)+len(lp.ho.deferred) > 0 {
		lp.flush() // frees what failing writes completed
	}
}

// onTick runs on the loop every tick: request timeouts, reconnects, idle
// clients, and clients throttled by back-pressure whose output drained.
func (lp *loop) onTick() {
	lp.tick()
	lp.adopt(lp.srv.topo.Load()) // normally done already by Reload's task
	for _, cs := range lp.conns {
		for _, bc := range cs {
			bc.checkTimeout()
		}
	}
	for _, bc := range lp.retired {
		bc.checkTimeout()
	}
	lp.sweepRetired()
	lp.checkRemovedPools()
	lp.ho.mail.Retry()
	for _, lpool := range lp.pools {
		lp.retryParked(lpool)
	}
	// Backwards: a client closed here is replaced in its slot by the last
	// one, which has had its tick.
	for i := len(lp.clients) - 1; i >= 0; i-- {
		lp.clients[i].onTick()
	}
	for i := len(lp.halfClosed) - 1; i >= 0; i-- {
		lp.halfClosed[i].continueHalf()
	}
	lp.checkGlobalCap()
	lp.onTickStats()
	lp.flush()
}

// checkGlobalCap enforces --max-buffered-bytes, the cap on what gnet holds
// for all clients of all loops together. Each loop publishes its own total;
// the sum is read on every tick (so the cap may be passed by up to a tick's
// worth of traffic). Over the cap, every loop stops parsing new requests
// (gnet still reads, so that alone does not free anything) and closes its
// client holding the most, one per tick, until the total is under the cap.
func (lp *loop) checkGlobalCap() {
	lp.heldPub.Store(lp.held)
	limit := lp.srv.opts.MaxBufferedBytes
	if limit <= 0 {
		return
	}
	total := lp.srv.heldTotal()
	wasOver := lp.over
	lp.over = total > limit
	if !lp.over {
		if wasOver {
			for _, cl := range lp.clients {
				cl.maybeResume(cl.gc.OutboundBuffered())
			}
		}
		return
	}
	var worst *client
	for _, cl := range lp.clients {
		if cl.open && cl.held >= minEvictBytes && (worst == nil || cl.held > worst.held) {
			worst = cl
		}
	}
	if worst != nil {
		lp.srv.log.Warn("closing the client holding the most buffered bytes: over --max-buffered-bytes",
			"client", worst.gc.RemoteAddr(), "held", worst.held, "total", total, "limit", limit)
		worst.stats.ClientErr.Inc()
		worst.closing = true
		_ = lp.el.Close(worst.gc)
	}
}

// minEvictBytes spares small clients: closing them frees little.
const minEvictBytes = 256 << 10

func (lp *loop) addClient(cl *client) { lp.clients = addTo(lp.clients, cl) }

func (lp *loop) removeClient(cl *client) { lp.clients = removeFrom(lp.clients, cl) }

// addTo appends cl to a loop's list of clients (lp.clients or
// lp.halfClosed, one at a time), recording its place in cl.slot.
func addTo(list []*client, cl *client) []*client {
	cl.slot = len(list)
	return append(list, cl)
}

// removeFrom takes cl out of the list addTo put it in, moving the last
// client into its place.
func removeFrom(list []*client, cl *client) []*client {
	last := len(list) - 1
	if cl.slot < 0 || cl.slot > last || list[cl.slot] != cl {
		return list
	}
	list[cl.slot] = list[last]
	list[cl.slot].slot = cl.slot
	list[last] = nil
	cl.slot = -1
	return list[:last]
}
