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
// place. A relay is a backendConn without a socket: enqueue appends the
// request's bytes to the relay's open ticket, which goes to the loop that
// owns the connection (through its inbox, a lock-free ring) at the end of
// the iteration; that loop sends the ticket's requests on the connection
// with the same code as its own (enqueue); the owner's complete writes
// each reply into the ticket, and once all are answered the ticket goes
// back; the origin completes each request as any other (complete), so each
// client's order is kept.
//
// A ticket carries all of a relay's requests of one iteration (up to
// ticketMaxItems or ticketMaxBytes): the requests' bytes and their replies
// each in one buffer, their details in one array. The two loops run on
// different cores, so what crosses is cache lines: a few contiguous
// buffers per batch cost much less than an object per request (each a
// chain of cache misses on the other core). And a loop hands another its
// tickets once per iteration, never per request: the loops' mailboxes
// (worker.Mailbox) keep what a loop sends in an outbox per peer until the
// end of its iteration (writeAll), then push it onto the peer's inbox and
// wake the peer once, unless a wake-up is pending already.
//
// A ticket's requests all go to one server, on the same connection of the
// owner (ticket.conn), so they are answered in the order sent: waiting for
// the last of them delays the first little.
//
// A ticket belongs to one loop at a time; the rings' push and pop order the
// hand-overs (the ring's cell sequence is a release/acquire pair), so its
// fields are plain (but state).

// inboxCap is the number of tickets a loop's inbox holds; more wait in the
// sender's outbox until the owner drains.
const inboxCap = 4096

// maxOverflow bounds the requests a loop has out with one peer (sent and
// not back): a stalled or slower peer costs bounded memory, and requests
// past the bound fail at once. (What a relay has in flight is bounded by
// its clients' max_inflight, as on a connection.)
const maxOverflow = 1 << 16

// maxNoreplyBytes bounds the bytes of the noreply requests among those (one
// request larger than this still goes, alone): nothing else bounds them, a
// client sending them as fast as it can. Requests that want a reply are
// bounded by their clients' max_inflight and max_request_bytes, as on a
// connection.
const maxNoreplyBytes = 64 << 20

// A ticket takes requests until it holds ticketMaxItems of them or
// ticketMaxBytes of their bytes; the next ones open a new ticket. The bound
// keeps a ticket's buffers reusable and lets the owner answer a long
// pipeline in parts.
const (
	ticketMaxItems = 64
	ticketMaxBytes = 16 << 10
)

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

// ticket carries a relay's requests of one iteration from the loop with
// the relay to the loop that owns the connection, and their replies back.
type ticket struct {
	// Set by the origin.
	from  *loop
	relay *backendConn // the origin's relay (only the origin reads it)
	srv   *backend.Server
	pool  *backend.Pool // the relay's pool (immutable), for a transient connection (connFor)
	conn  int           // picks the owner's connection: one for all the requests of a relay, so they stay in order
	req   []byte        // the requests' bytes, one after the other (the ticket's own buffer, reused)
	n     int           // the requests: items[:n] (and, on their way back, replies[:n])
	// noreplyBytes are the bytes of its noreply requests (handoff.outNoreply).
	noreplyBytes int
	// state decides, once, between the owner taking the ticket
	// (ticketPending -> ticketTaken, in onHandedIn) and the origin failing
	// its requests for a stalled owner (ticketPending -> ticketCancelled,
	// in checkRelay): a request reported failed is never sent, and one sent
	// is never reported failed by the relay. (A cancelled ticket's noreply
	// requests are sent still: nothing reported them failed.)
	state atomic.Int32
	// Origin only: whether the ticket has requests that want a reply (it is
	// then in the relay's relayQ), since when (checkRelay), and whether it
	// came back (it then waits in relayQ until those sent before it are
	// back too).
	inQ      bool
	sentAt   int64
	answered bool

	// Set by the owner.
	reply []byte // the replies' bytes (the ticket's own buffer, reused), where items say
	left  int    // requests not answered yet, plus one while they are being sent
	back  bool   // on its way back to the origin

	// The requests' details, written by the origin and read by the owner,
	// and where their replies are, written by the owner and read by the
	// origin: apart, so that neither side writes the other's cache lines.
	items   [ticketMaxItems]handItem
	replies [ticketMaxItems]handReply
}

// handItem is one request of a ticket.
type handItem struct {
	orig      *request // origin only: the request; nil for noreply, or once the relay failed it
	end       int      // the end of its bytes in ticket.req (they start where the previous item's end)
	binOpaque uint32
	mcCmd     memcache.TextCmd
	binOp     memcache.Opcode
	noreply   bool
	frag      bool // a fragment of a split command: failures are not binary packets of their own
	binQuiet  bool
}

// handReply is where the reply to a ticket's request is (set by the owner).
type handReply struct {
	at, end int32  // its bytes in ticket.reply
	big     []byte // or a buffer of its own (ownedBuf), when larger than bigReply
}

// handoff is a loop's side of the hand-off.
type handoff struct {
	// mail carries tickets between the loops: sent in this loop's outboxes,
	// pushed onto the peers' inboxes once per iteration (wakePeers), one
	// wake-up per peer; drained by drainInbox.
	mail      *worker.Mailbox[ticket]
	onTicket  func(*ticket)  // lp.onTicket, once (a method value allocates)
	inboxTask gnet.Runnable  // where gnet has no IterationWaker: the drain as a task
	heartbeat worker.Gauge   // lp.now at the loop's last callback, read by relays to tell a stalled loop
	opened    []*backendConn // relays with a ticket open this iteration

	// outstanding counts, by peer, the requests sent and not back yet (in
	// the outbox, the peer's inbox, or with the peer): the bound on what a
	// stalled or slower peer costs (maxOverflow), noreply ones too.
	outstanding []int
	// outNoreply counts, by peer, the bytes of the noreply ones: sets of
	// large values for a stalled peer are bounded by bytes too
	// (maxNoreplyBytes).
	outNoreply []int

	freeTickets []*ticket // with their buffers
	freeBytes   int       // the buffers they keep
	bareTickets []*ticket // without: past maxFreeBytes
	// deferred are returned tickets, recycled after the current
	// callback's writes (complete may queue their replies as views).
	deferred []*ticket
}

func (lp *loop) initHandoff(loops int) {
	h := &lp.ho
	h.onTicket = lp.onTicket
	h.inboxTask = gnet.RunnableFunc(func(context.Context) error { lp.drainInbox(); lp.flush(); return nil })
	// The loop wakes for its OnIterationEnd to drain (no task, no
	// allocation: gnet's IterationWaker, ferry's patch), or, where the
	// poller has no waker, for a task that does.
	wake := func() error { return lp.el.Execute(context.Background(), h.inboxTask) }
	if w, ok := lp.el.(gnet.IterationWaker); ok {
		wake = w.WakeIteration
	}
	h.mail = worker.NewMailbox[ticket](inboxCap, loops, wake)
	h.outstanding = make([]int, loops)
	h.outNoreply = make([]int, loops)
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
	nb := lp.ho.outNoreply[owner.idx]
	if lp.ho.outstanding[owner.idx] >= maxOverflow || r.noreply && nb > 0 && nb+len(raw) > maxNoreplyBytes {
		bc.lpool.shard.ForwardError.Inc()
		bc.failOne(r, bc.protoError(fmt.Sprintf("too many requests waiting for event loop %d (it owns the connections to server %s): %d, %d bytes of noreply ones",
			owner.idx, bc.addr(), lp.ho.outstanding[owner.idx], nb)))
		return
	}
	t := bc.open
	if t == nil || t.n == ticketMaxItems || len(t.req) >= ticketMaxBytes {
		t = lp.getTicket()
		bc.ticketHW.sizeBuffers(t)
		t.relay, t.srv, t.pool, t.conn = bc, bc.srvh, bc.lpool.pool, lp.idx
		bc.open = t
		lp.ho.opened = append(lp.ho.opened, bc)
		lp.sendTicket(owner, t) // in the outbox until the end of the iteration, taking more meanwhile
	}
	lp.ho.outstanding[owner.idx]++
	if r.noreply {
		lp.ho.outNoreply[owner.idx] += len(raw)
		t.noreplyBytes += len(raw)
	}
	// A copy: the bytes may be a view into the client's input, and a
	// fragment's own bytes are read again when its parent merges.
	t.req = append(t.req, raw...)
	t.items[t.n] = handItem{end: len(t.req), noreply: r.noreply, frag: r.parent != nil,
		binQuiet: r.binQuiet, mcCmd: r.mcCmd, binOp: r.binOp, binOpaque: r.binOpaque}
	t.n++
	if r.noreply {
		lp.complete(r, nil, false) // done once on its way, as on a connection
		return
	}
	t.items[t.n-1].orig = r
	if !t.inQ {
		t.inQ, t.sentAt = true, lp.now
		bc.relayQ.Push(t)
	}
}

// sendTicket puts t in dst's outbox, pushed at the end of this iteration.
func (lp *loop) sendTicket(dst *loop, t *ticket) { lp.ho.mail.Send(dst.ho.mail, dst.idx, t) }

// wakePeers pushes the tickets sent this iteration onto the peers' inboxes,
// and wakes each peer once. The relays' open tickets close: the next
// requests open new ones.
func (lp *loop) wakePeers() {
	h := &lp.ho
	for i, bc := range h.opened {
		bc.open = nil
		h.opened[i] = nil
	}
	h.opened = h.opened[:0]
	h.mail.Flush()
}

// drainInbox runs on the loop (onIterationEnd, or the task): every ticket
// in its inbox. The writes they queue follow.
func (lp *loop) drainInbox() {
	lp.tick()
	lp.ho.mail.Drain(lp.ho.onTicket)
}

// onTicket is a ticket arrived from another loop: requests to send, or
// their replies back.
func (lp *loop) onTicket(t *ticket) {
	if t.back {
		lp.onReturned(t)
	} else {
		lp.onHandedIn(t)
	}
}

// onHandedIn sends the requests of a ticket a relay of another loop handed
// over, on this loop's connection to their server, as this loop's own
// requests are.
func (lp *loop) onHandedIn(t *ticket) {
	taken := t.state.CompareAndSwap(ticketPending, ticketTaken)
	t.reply, t.left = t.reply[:0], 1 // the one held while sending: a reply may come at once (a refusal)
	var bc *backendConn
	transient := false
	start := 0
	clear(t.replies[:t.n])
	for i := range t.n {
		it := &t.items[i]
		raw := t.req[start:it.end]
		start = it.end
		if !taken && !it.noreply {
			continue // the relay failed it (this loop stalled): not sent, so not applied
		}
		if bc == nil {
			bc, transient = lp.connFor(t)
		}
		r := lp.getReq()
		r.ticket, r.ticketItem = t, i
		r.noreply, r.handFrag, r.binQuiet = it.noreply, it.frag, it.binQuiet
		r.mcCmd, r.binOp, r.binOpaque = it.mcCmd, it.binOp, it.binOpaque
		t.left++
		// raw is a view for enqueue (as a client's input is): the ticket
		// goes back only once all its requests are answered, long after
		// their bytes are written (or copied to wait for a dial).
		bc.enqueue(r, raw)
	}
	if transient {
		lp.retire(bc) // after the enqueues have dialled: it closes once drained
	}
	lp.ticketDone(t)
}

// connFor is this loop's connection for a handed-over ticket: one of its
// connections to the server, always the same for one relay. During a
// reload the two loops may route by different views: when the origin has
// adopted a topology this loop has not yet, this loop adopts it first (it
// is published before any loop adopts it); when this loop no longer has
// the server (the origin routed by the view before), a connection it
// retired still takes the requests, or a transient one is opened for them
// and closes once drained: the requests go where the origin's view sent
// them, as they would on a connection of the origin's own.
func (lp *loop) connFor(t *ticket) (bc *backendConn, transient bool) {
	if lp.conns[t.srv] == nil {
		lp.adopt(lp.srv.topo.Load())
	}
	if cs := lp.conns[t.srv]; len(cs) > 0 {
		// (A relay when this loop hands the server over too, ownership
		// having moved in a reload: it passes the requests on.)
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
// reply goes into its ticket, which goes back once all its requests are
// answered.
func (lp *loop) replyToOrigin(r *request, reply []byte) {
	t := r.ticket
	rp := &t.replies[r.ticketItem]
	r.ticket = nil
	if len(reply) > bigReply {
		// A copy of its own: large replies would make the ticket's buffer
		// grow, copy on growing and be dropped on recycling, every time.
		rp.big = append(ownedBuf(len(reply)), reply...)
	} else {
		// (t.reply holds at most ticketMaxItems replies of bigReply bytes.)
		rp.at = int32(len(t.reply))
		t.reply = append(t.reply, reply...)
		rp.end = int32(len(t.reply))
	}
	lp.release(r)
	lp.ticketDone(t)
}

// ticketDone counts one request of t answered (or the sending done), and
// sends t back to its origin when none is left.
func (lp *loop) ticketDone(t *ticket) {
	if t.left--; t.left == 0 {
		t.back = true
		lp.sendTicket(t.from, t)
	}
}

// onReturned completes the requests whose replies t brings. Tickets are
// matched by identity, not by order: a relay's tickets may come back out
// of order (a reload moves the owner's connections between two of them).
// The client's own queue puts its replies back in order.
func (lp *loop) onReturned(t *ticket) {
	bc := t.relay
	lp.ho.outstanding[bc.owner] -= t.n
	lp.ho.outNoreply[bc.owner] -= t.noreplyBytes
	if !t.inQ || t.state.Load() == ticketCancelled {
		lp.putTicket(t) // noreply only: done when sent; or the relay failed its requests meanwhile
		return
	}
	t.answered = true
	// The requests are completed before t goes on the deferred list:
	// complete can write to a client at once, a failing write closes it,
	// and its OnClose flushes, which recycles what is deferred.
	for i := range t.n {
		it := &t.items[i]
		if r := it.orig; r != nil {
			it.orig = nil
			rp := &t.replies[i]
			reply := t.reply[rp.at:rp.end]
			if rp.big != nil {
				reply = rp.big
			}
			lp.complete(r, reply, true)
		}
	}
	queued := true // t still waits in relayQ, behind an unanswered ticket
	for {
		h, ok := bc.relayQ.Peek()
		if !ok || !h.answered {
			break
		}
		bc.relayQ.Pop()
		queued = queued && h != t
		lp.ho.deferred = append(lp.ho.deferred, h) // its replies may be views until the writes
	}
	// complete has taken what it needs of the replies (copies, or bytes
	// queued): a ticket waiting in relayQ behind an unanswered one need not
	// hold large buffers meanwhile (putTicket would drop them anyway).
	if queued {
		// (Its own buffers of large replies stay until putTicket: the
		// writes may still refer to them.)
		t.dropLargeBuffers()
	}
	bc.closeIfDrained()
}

// trimBuffers drops the ticket's buffers that are larger than a free
// ticket keeps (keepTicketBuf), and empties the others for reuse.
func (t *ticket) trimBuffers() {
	for i := range t.n {
		freeBuf(t.replies[i].big)
	}
	clear(t.items[:t.n]) // the requests and buffers they point to
	clear(t.replies[:t.n])
	t.n = 0
	t.req, t.reply = t.req[:0], t.reply[:0]
	t.dropLargeBuffers()
}

// dropLargeBuffers lets go of the request and reply buffers larger than a
// free ticket keeps (keepTicketBuf).
func (t *ticket) dropLargeBuffers() {
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
	if now-t.sentAt < limit || now-bc.ownerLoop.ho.heartbeat.Load() < limit {
		return
	}
	bc.stats.ServerTimedout.Inc()
	reply := bc.errReply(fmt.Sprintf("event loop %d, which owns the connections to it, has not run for %v", bc.owner, time.Duration(limit)))
	// The open ticket closes (requests from now on go in a new one, not in
	// one cancelled), and the queue is taken out first: failing a request
	// can write to its client, and a nested flush can hand the relay new
	// requests.
	bc.open = nil
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
		// The ticket comes back (its noreply requests are sent still) and
		// is freed then.
		for i := range t.n {
			it := &t.items[i]
			if r := it.orig; r != nil {
				it.orig = nil
				bc.failOne(r, reply)
			}
		}
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
}

// getTicket takes a free ticket, one with buffers first.
func (lp *loop) getTicket() *ticket {
	h := &lp.ho
	if n := len(h.freeTickets); n > 0 {
		t := h.freeTickets[n-1]
		h.freeTickets[n-1] = nil
		h.freeTickets = h.freeTickets[:n-1]
		h.freeBytes -= t.bufBytes()
		return t
	}
	if n := len(h.bareTickets); n > 0 {
		t := h.bareTickets[n-1]
		h.bareTickets[n-1] = nil
		h.bareTickets = h.bareTickets[:n-1]
		return t
	}
	return &ticket{from: lp}
}

// ticketSizes are the buffers a relay's tickets have needed lately, up to
// what a free ticket keeps: a ticket the relay takes with smaller ones gets
// buffers of those sizes at once (sizeBuffers), rather than growing them
// step by step, an allocation each, every time a batch is larger than the
// ticket's last one.
type ticketSizes struct{ req, reply int }

func (hw *ticketSizes) sizeBuffers(t *ticket) {
	if cap(t.req) < hw.req {
		t.req = make([]byte, 0, hw.req)
	}
	if cap(t.reply) < hw.reply {
		t.reply = make([]byte, 0, hw.reply)
	}
}

// record takes in what ticket t used: the sizes follow the largest
// recent tickets, and decay by an eighth per smaller ticket, so that a
// burst long past does not size every ticket after it.
func (hw *ticketSizes) record(t *ticket) {
	hw.req = min(max(len(t.req), hw.req-hw.req/8), keepTicketBuf)
	hw.reply = min(max(len(t.reply), hw.reply-hw.reply/8), keepTicketBuf)
}

// putTicket recycles t, keeping its buffers up to keepTicketBuf bytes
// each while the free tickets' buffers stay within maxFreeBytes: steady
// hand-off costs no allocation, and the free list's memory stays bounded.
func (lp *loop) putTicket(t *ticket) {
	if t.relay != nil {
		hw := &t.relay.ticketHW
		hw.record(t)
		// Buffers far larger than the relay's tickets need lately (a
		// burst's) go: kept, they would fill the free tickets' budget for
		// good, and the tickets past it would allocate theirs every time.
		if cap(t.req) > 4*max(hw.req, 1<<10) {
			t.req = nil
		}
		if cap(t.reply) > 4*max(hw.reply, 1<<10) {
			t.reply = nil
		}
	}
	t.trimBuffers()
	// (Not *t = ticket{...}: that would clear the arrays whole; trimBuffers
	// cleared what was used.)
	t.relay, t.srv, t.pool, t.conn = nil, nil, nil, 0
	t.state.Store(ticketPending)
	t.inQ, t.sentAt, t.answered, t.noreplyBytes = false, 0, false, 0
	t.left, t.back = 0, false
	h := &lp.ho
	if len(h.freeTickets)+len(h.bareTickets) >= maxFreeTickets {
		return
	}
	if h.freeBytes+t.bufBytes() > maxFreeBytes {
		// Kept apart, without its buffers: getTicket takes the tickets
		// that have buffers first (a bare one on top of them would be
		// given buffers, then dropped again on its return, every time).
		t.req, t.reply = nil, nil
		h.bareTickets = append(h.bareTickets, t)
		return
	}
	h.freeBytes += t.bufBytes()
	h.freeTickets = append(h.freeTickets, t)
}

// bufBytes is the memory of a free ticket's buffers.
func (t *ticket) bufBytes() int { return cap(t.req) + cap(t.reply) }

// bigReply is the size above which a reply goes back in a buffer of its
// own rather than in the ticket's.
const bigReply = 2 << 10

// A loop keeps at most maxFreeTickets free tickets, with buffers of up to
// keepTicketBuf bytes each and maxFreeBytes in all.
const (
	keepTicketBuf  = 64 << 10
	maxFreeTickets = 256 // (a ticket is about 4 KiB without its buffers)
	maxFreeBytes   = 2 << 20
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
