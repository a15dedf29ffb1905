package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/backend/hash"
	"github.com/ferry-proxy/ferry/codec/memcache"
	"github.com/ferry-proxy/ferry/ring"
	"github.com/ferry-proxy/ferry/worker"
)

// Hand-off: server_connections_scope "process".
//
// In the default scope every loop opens server_connections to every
// server. In scope "process" the process opens server_connections to each
// server in all, as twemproxy does: they are spread over the loops
// (connShare), and a loop that owns none to a server has a relay in their
// place. A relay is a backendConn without a socket: enqueue puts the
// request's bytes in a ticket and pushes it onto the inbox of the loop that
// owns the connection (a lock-free ring), which sends it on that connection
// with the same code as its own requests (enqueue); the owner's complete
// writes the reply into the ticket and pushes it back; the origin pops its
// relay's oldest request and completes it as any other. A relay's requests
// all go through one of the owner's connections, and tickets come back in
// the order they went, so a relay matches replies by order, as a
// connection does.
//
// A loop hands another its tickets once per batch, never per request:
// sending appends to the peer's outbox, and the end of the iteration
// (writeAll) pushes each outbox onto the peer's ring as one entry (the
// tickets linked by next: one atomic push and one cache line crossing
// cores per batch) and wakes the peer with one gnet task, unless one is
// pending already (wakeFlag).
//
// A ticket belongs to one loop at a time; the rings' push and pop order the
// hand-overs (the ring's cell sequence is a release/acquire pair), so its
// fields are plain.

// inboxCap is the number of batches a loop's inbox holds; more wait on
// the sender (lp.ho.overflow, the outbox) until the owner drains.
const inboxCap = 4096

// maxOverflow bounds the tickets a loop has out with one peer (sent and not
// back): a stalled or slower peer costs bounded memory, and requests past
// the bound fail at once. (What a relay has in flight is bounded by its clients'
// max_inflight, as on a connection.)
const maxOverflow = 1 << 16

// stallLimitNoTimeout is how long a relay of a pool without a timeout waits
// for an owner loop that runs nothing at all before it fails the requests:
// a loop, not a server, is stuck then.
const stallLimitNoTimeout = 5 * time.Second

// ticket states (ticket.state).
const (
	ticketPending int32 = iota
	ticketTaken
	ticketCancelled
)

// ticket carries one request from a loop with a relay to the loop that owns
// the connection, and its reply back.
type ticket struct {
	// Set by the origin.
	from  *loop
	relay *backendConn // the origin's relay (only the origin reads it)
	// state decides, once, between the owner sending the request
	// (ticketPending -> ticketTaken, in onHandedIn) and the origin failing
	// it for a stalled owner (ticketPending -> ticketCancelled, in
	// checkRelay): a request reported failed is never sent, and one sent is
	// never reported failed by the relay.
	state atomic.Int32
	// Origin only: the request (nil for noreply, or once the relay failed
	// it), and whether its reply came back (the ticket then waits in the
	// relay's queue until those sent before it are back too).
	orig     *request
	answered bool
	srv      *backend.Server
	pool     *backend.Pool // the relay's pool (immutable), for a transient connection (connFor)
	conn     int           // picks the owner's connection: one for all the requests of a relay, so they stay in order
	req      []byte        // the request's bytes (the ticket's own buffer, reused)

	noreply   bool
	frag      bool // a fragment of a split command: failures are not binary packets of their own
	binQuiet  bool
	mcCmd     memcache.TextCmd
	binOp     memcache.Opcode
	binOpaque uint32

	// Set by the owner.
	reply []byte // the reply's bytes (the ticket's own buffer, reused); empty for none (noreply, a quiet miss)
	back  bool   // on its way back to the origin

	next *ticket // the next ticket of the batch it was pushed in (set by the sender)
}

// handoff is a loop's side of the hand-off: its inbox and whom to wake.
type handoff struct {
	inbox     *ring.MPSC[*ticket]
	wakeFlag  atomic.Bool  // a drain task is queued on this loop
	heartbeat worker.Gauge // lp.now at the loop's last callback, read by relays to tell a stalled loop
	inboxTask gnet.Runnable

	wakeList   []*loop     // peers with tickets pushed in this iteration
	wakeMarked []bool      // by loop index: in wakeList
	overflow   [][]*ticket // by loop index: the outbox, tickets not pushed onto the peer's inbox yet
	// outstanding counts, by peer, the request tickets sent and not back
	// yet (in the outbox, the peer's inbox, or with the peer): the bound on
	// what a stalled or slower peer costs (maxOverflow), noreply ones too.
	outstanding []int

	freeTickets []*ticket
	// deferred are returned tickets, recycled after the current
	// callback's writes (complete may queue their replies as views).
	deferred []*ticket
}

func (lp *loop) initHandoff(loops int) {
	h := &lp.ho
	h.inbox = ring.NewMPSC[*ticket](inboxCap)
	h.wakeMarked = make([]bool, loops)
	h.overflow = make([][]*ticket, loops)
	h.outstanding = make([]int, loops)
	h.inboxTask = gnet.RunnableFunc(func(context.Context) error { lp.onInbox(); return nil })
}

// connShare splits a server's n connections over the process's loops
// (scope "process"): it returns how many of them loop idx owns and, when it
// owns none, the loop that owns the connection its requests go to. The
// first connection goes to the loop a hash of the server's address picks,
// the next ones to the loops after it: the servers' connections, and their
// I/O, are spread over the loops, and a reload that keeps a server keeps
// its owners.
func connShare(addr string, n, loops, idx int) (own, owner int) {
	if loops <= 1 {
		return n, idx
	}
	base := firstOwner(addr, loops)
	k := (idx - base + loops) % loops
	own = n / loops
	if k < n%loops {
		own++
	}
	if own > 0 {
		return own, idx
	}
	return 0, (base + k%n) % loops
}

// firstOwner is the loop that owns a server's first connection.
func firstOwner(addr string, loops int) int {
	return int(hash.FNV1a_32([]byte(addr)) % uint32(loops))
}

// newRelay is loop lp's stand-in for the connections loop owner has to sv.
func newRelay(lp *loop, lpool *loopPool, sv *backend.Server, owner int) *backendConn {
	bc := newBackendConn(lp, lpool, sv)
	bc.state, bc.owner = stateRelay, owner
	return bc
}

// loopAt is the loop of index i, nil if there is none (yet).
func (s *Server) loopAt(i int) *loop {
	if ls := s.acceptLoops.Load(); ls != nil && i >= 0 && i < len(*ls) {
		return (*ls)[i]
	}
	return nil
}

// handOff sends r through relay bc: to the loop that owns the connection.
func (bc *backendConn) handOff(r *request, raw []byte) {
	lp := bc.lp
	if bc.srvh.Down() {
		bc.refuse(r) // as an idle connection would: no hop to learn it
		return
	}
	if bc.retiring { // not reachable from a pool any more; defensive
		bc.lpool.shard.ForwardError.Inc()
		bc.failOne(r, bc.protoError("server "+bc.addr()+" was removed from the pool by a reload"))
		return
	}
	owner := bc.ownerLoop
	if owner == nil {
		if owner = lp.srv.loopAt(bc.owner); owner == nil {
			bc.lpool.shard.ForwardError.Inc()
			bc.failOne(r, bc.protoError(fmt.Sprintf("event loop %d, which owns the connections to server %s, is not running", bc.owner, bc.addr())))
			return
		}
		bc.ownerLoop = owner
	}
	if lp.ho.outstanding[owner.idx] >= maxOverflow {
		bc.lpool.shard.ForwardError.Inc()
		bc.failOne(r, bc.protoError(fmt.Sprintf("too many requests waiting for event loop %d (it owns the connections to server %s)", owner.idx, bc.addr())))
		return
	}
	t := lp.getTicket()
	t.relay, t.srv, t.pool, t.conn = bc, bc.srvh, bc.lpool.pool, lp.idx
	lp.ho.outstanding[owner.idx]++
	// A copy: the bytes may be a view into the client's input, and a
	// fragment's own bytes are read again when its parent merges.
	t.req = append(t.req[:0], raw...)
	t.noreply, t.frag, t.binQuiet = r.noreply, r.parent != nil, r.binQuiet
	t.mcCmd, t.binOp, t.binOpaque = r.mcCmd, r.binOp, r.binOpaque
	if !r.noreply {
		t.orig = r
		bc.relayQ.Push(t)
	}
	lp.sendTicket(owner, t)
	if r.noreply {
		lp.complete(r, nil, false) // done once on its way, as on a connection
	}
}

// sendTicket puts t in dst's outbox, pushed at the end of this iteration.
func (lp *loop) sendTicket(dst *loop, t *ticket) {
	h := &lp.ho
	h.overflow[dst.idx] = append(h.overflow[dst.idx], t)
	if !h.wakeMarked[dst.idx] {
		h.wakeMarked[dst.idx] = true
		h.wakeList = append(h.wakeList, dst)
	}
}

// wakePeers pushes each outbox this iteration filled onto its peer's inbox,
// as one batch, and wakes the peer.
func (lp *loop) wakePeers() {
	h := &lp.ho
	for i, dst := range h.wakeList {
		h.wakeList[i] = nil
		h.wakeMarked[dst.idx] = false
		if q := h.overflow[dst.idx]; len(q) > 0 {
			for j, t := range q[:len(q)-1] {
				t.next = q[j+1]
			}
			q[len(q)-1].next = nil
			if dst.ho.inbox.Push(q[0]) {
				clear(q)
				h.overflow[dst.idx] = q[:0]
			} // else full: kept, retried on the next tick (retryOverflow)
		}
		dst.wake()
	}
	h.wakeList = h.wakeList[:0]
}

// retryOverflow, on every tick, marks the peers that tickets still wait for.
func (lp *loop) retryOverflow() {
	h := &lp.ho
	for idx, q := range h.overflow {
		if len(q) > 0 && !h.wakeMarked[idx] {
			h.wakeMarked[idx] = true
			h.wakeList = append(h.wakeList, lp.srv.loopAt(idx))
		}
	}
}

// wake queues the drain of lp's inbox on lp, unless one is queued already.
// Any goroutine may call it.
func (lp *loop) wake() {
	if lp.ho.wakeFlag.CompareAndSwap(false, true) {
		if err := lp.el.Execute(context.Background(), lp.ho.inboxTask); err != nil {
			lp.ho.wakeFlag.Store(false) // shutting down
		}
	}
}

// onInbox runs on the loop: every ticket in its inbox, then one write.
func (lp *loop) onInbox() {
	h := &lp.ho
	// Cleared before draining: a ticket pushed after this wakes the loop
	// again, one pushed before it is seen below.
	h.wakeFlag.Store(false)
	lp.tick()
	for range h.inbox.Cap() {
		t, ok := h.inbox.Pop()
		if !ok {
			break
		}
		for t != nil {
			next := t.next
			t.next = nil
			if t.back {
				lp.onReturned(t)
			} else {
				lp.onHandedIn(t)
			}
			t = next
		}
	}
	if h.inbox.Len() > 0 {
		lp.wake() // more than a ring's worth came: the rest in the next task
	}
	lp.flush()
}

// onHandedIn sends a request a relay of another loop handed over, on this
// loop's connection to its server, as this loop's own requests are.
func (lp *loop) onHandedIn(t *ticket) {
	if !t.noreply && !t.state.CompareAndSwap(ticketPending, ticketTaken) {
		lp.returnTicket(t, nil) // the relay failed it (this loop stalled): not sent, so not applied
		return
	}
	bc, transient := lp.connFor(t)
	r := lp.getReq()
	r.ticket = t
	r.noreply, r.handFrag, r.binQuiet = t.noreply, t.frag, t.binQuiet
	r.mcCmd, r.binOp, r.binOpaque = t.mcCmd, t.binOp, t.binOpaque
	// t.req is a view for enqueue (as a client's input is): the ticket
	// goes back only once r is answered, long after its bytes are written
	// (or copied to wait for a dial).
	bc.enqueue(r, t.req)
	if transient {
		lp.retire(bc) // after the enqueue has dialled: it closes once drained
	}
}

// connFor is this loop's connection for a handed-over request: one of its
// connections to the server, always the same for one relay. During a
// reload the two loops may route by different views: when the origin has
// adopted a topology this loop has not yet, this loop adopts it first (it
// is published before any loop adopts it); when this loop no longer has
// the server (the origin routed by the view before), a connection it
// retired still takes the request, or a transient one is opened for it
// and closes once drained: the request goes where the origin's view sent
// it, as it would on a connection of the origin's own.
func (lp *loop) connFor(t *ticket) (bc *backendConn, transient bool) {
	if lp.conns[t.srv] == nil {
		lp.adopt(lp.srv.topo.Load())
	}
	if cs := lp.conns[t.srv]; len(cs) > 0 {
		// (A relay when this loop hands the server over too, ownership
		// having moved in a reload: it passes the request on.)
		return cs[t.conn%len(cs)], false
	}
	for _, bc := range lp.retired {
		if bc.srvh == t.srv && bc.state != stateRelay && bc.state != stateIdle {
			return bc, false
		}
	}
	lpool := &loopPool{pool: t.pool, shard: &t.pool.Shards[lp.idx]}
	return newBackendConn(lp, lpool, t.srv), true
}

// replyToOrigin is complete for a request handed over by another loop: the
// reply goes back in its ticket.
func (lp *loop) replyToOrigin(r *request, reply []byte) {
	t := r.ticket
	r.ticket = nil
	lp.returnTicket(t, reply)
	lp.release(r)
}

// returnTicket sends t back to its origin with a copy of reply.
func (lp *loop) returnTicket(t *ticket, reply []byte) {
	t.reply = append(t.reply[:0], reply...)
	t.back = true
	lp.sendTicket(t.from, t)
}

// onReturned completes the request whose reply t brings. Replies are
// matched by identity, not by order: a relay's requests may come back out
// of order (one fails at once on the owner while those before it wait for
// a dial; a reload moves the owner's connections between two of them).
// The client's own queue puts its replies back in order.
func (lp *loop) onReturned(t *ticket) {
	bc := t.relay
	lp.ho.outstanding[bc.owner]--
	r := t.orig
	if t.noreply || r == nil || t.state.Load() == ticketCancelled {
		lp.putTicket(t) // noreply: done when sent; else the relay failed it meanwhile
		return
	}
	t.orig, t.answered = nil, true
	for {
		h, ok := bc.relayQ.Peek()
		if !ok || !h.answered {
			break
		}
		bc.relayQ.Pop()
		lp.ho.deferred = append(lp.ho.deferred, h) // its reply may be a view until the writes
	}
	lp.complete(r, t.reply, true)
	// complete has taken what it needs of the reply (a copy, or bytes
	// queued): a ticket waiting in relayQ behind an unanswered one need not
	// hold large buffers meanwhile (putTicket would drop them anyway).
	t.trimBuffers()
	bc.closeIfDrained()
}

// trimBuffers drops the ticket's buffers that are larger than a free
// ticket keeps (keepTicketBuf), and empties the others for reuse.
func (t *ticket) trimBuffers() {
	t.req, t.reply = t.req[:0], t.reply[:0]
	if cap(t.req) > keepTicketBuf {
		t.req = nil
	}
	if cap(t.reply) > keepTicketBuf {
		t.reply = nil
	}
}

// checkRelay fails the requests of a relay whose owner loop has run
// nothing for a whole timeout while its oldest request waited that long:
// the owner is stalled (a slow server is the owner's to time out, with
// what it knows of the connection's progress). Those requests are then
// neither sent nor answered when the owner runs again (ticket.state), so a
// write reported failed is not applied later; those the owner took before
// it stalled stay, to be answered.
func (bc *backendConn) checkRelay() {
	lp := bc.lp
	limit := int64(bc.lpool.pool.Cfg.Timeout)
	if limit <= 0 {
		limit = int64(stallLimitNoTimeout)
	}
	t, ok := bc.relayQ.Peek() // the oldest unanswered: answered ones leave the head at once
	if !ok || bc.ownerLoop == nil {
		return
	}
	now := lp.now
	if now-t.orig.sentAt < limit || now-bc.ownerLoop.ho.heartbeat.Load() < limit {
		return
	}
	bc.stats.ServerTimedout.Inc()
	reply := bc.errReply(fmt.Sprintf("event loop %d, which owns the connections to it, has not run for %v", bc.owner, time.Duration(limit)))
	// The queue is taken out first: failing a request can write to its
	// client, and a nested flush can hand the relay new requests.
	q := bc.relayQ
	bc.relayQ = ring.FIFO[*ticket]{}
	var kept []*ticket
	for {
		t, ok := q.Pop()
		if !ok {
			break
		}
		if t.answered {
			lp.ho.deferred = append(lp.ho.deferred, t) // back home already
			continue
		}
		if !t.state.CompareAndSwap(ticketPending, ticketCancelled) {
			kept = append(kept, t) // the owner took it before it stalled: it will answer
			continue
		}
		r := t.orig
		t.orig = nil // the ticket comes back (or is in the outbox, below) and is freed then
		bc.failOne(r, reply)
	}
	since := bc.relayQ // handed over while failing (a nested flush)
	bc.relayQ = ring.FIFO[*ticket]{}
	for _, t := range kept {
		bc.relayQ.Push(t)
	}
	for {
		t, ok := since.Pop()
		if !ok {
			break
		}
		bc.relayQ.Push(t)
	}
	// The cancelled ones still waiting here for room in the owner's inbox
	// never left.
	out := lp.ho.overflow[bc.owner]
	n := 0
	for _, t := range out {
		if !t.back && t.relay == bc && t.state.Load() == ticketCancelled {
			lp.ho.outstanding[bc.owner]--
			lp.putTicket(t)
			continue
		}
		out[n] = t
		n++
	}
	clear(out[n:])
	lp.ho.overflow[bc.owner] = out[:n]
}

func (lp *loop) getTicket() *ticket {
	h := &lp.ho
	if n := len(h.freeTickets); n > 0 {
		t := h.freeTickets[n-1]
		h.freeTickets = h.freeTickets[:n-1]
		return t
	}
	return &ticket{from: lp}
}

// putTicket recycles t, keeping its buffers up to keepTicketBuf bytes
// each: steady hand-off costs no allocation, and the free list's memory
// stays bounded.
func (lp *loop) putTicket(t *ticket) {
	t.trimBuffers()
	*t = ticket{from: lp, req: t.req, reply: t.reply}
	if h := &lp.ho; len(h.freeTickets) < maxFreeTickets {
		h.freeTickets = append(h.freeTickets, t)
	}
}

// A loop keeps at most maxFreeTickets free tickets, with buffers of up to
// keepTicketBuf bytes each: about 1 MiB per loop at most.
const (
	keepTicketBuf  = 512
	maxFreeTickets = 1024
)

// freeDeferredBufs recycles the returned tickets once the writes are done.
func (lp *loop) freeDeferredBufs() {
	h := &lp.ho
	for i, t := range h.deferred {
		lp.putTicket(t)
		h.deferred[i] = nil
	}
	h.deferred = h.deferred[:0]
}
