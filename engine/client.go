package engine

import (
	"errors"
	"github.com/panjf2000/gnet/v2"
	"io"
	"sync/atomic"
	"syscall"

	"github.com/ferry-proxy/ferry/codec/resp"
	"github.com/ferry-proxy/ferry/ring"
	"github.com/ferry-proxy/ferry/worker"
)

// client is one client connection. It belongs to one loop for life.
type client struct {
	gc       gnet.Conn
	lp       *loop
	lpool    *loopPool
	clients  *atomic.Int64 // its pool's client count, for client_connections
	stats    *worker.PoolStats
	slot     int    // index in lp.clients
	held     int    // bytes gnet holds for it, as last accounted
	connSlot uint32 // which of server_connections this client uses
	open     bool

	proto  protocol
	parser resp.Parser
	req    resp.Request
	mc     *mcState // memcache parsers (nil on redis pools)
	inline []byte   // an inline command re-encoded as a multibulk
	need   int      // stored input bytes needed before the partial request can complete
	in     readBuf  // requests not yet parsed
	skip   int      // inbound bytes still to drop (the value of a refused request)

	queue ring.FIFO[*request] // requests in the order they came
	out   writeBuf            // replies waiting for this iteration's write
	dirty bool

	authed     bool
	refusedTx  bool        // MULTI was refused: refuse everything up to EXEC or DISCARD
	closing    bool        // close once the queue has drained (QUIT, protocol error)
	half       *halfClosed // the client shut down its sending side with replies owed
	throttled  bool        // parsing paused by back-pressure
	lastActive int64
	// A cluster pool without its first slot map: the client's input waits
	// unparsed since mapWaitFrom (cluster.go).
	waitingMap  bool
	mapWaitFrom int64

	lim clientLimits
	cur reqMeta // the request being parsed, for push (see latency.go)
}

type clientLimits struct {
	maxInflight int
	softOutput  int // stop parsing above this much unsent output
	maxInput    int // close a throttled client holding more unparsed input than this
	hardOutput  int // close the client above this
	idleTimeout int64
	needsAuth   bool
	redisDB     int
}

// onTraffic is the client read path shared by every protocol: parse every
// complete request, route it, then write what this produced in one go.
func (cl *client) onTraffic(c gnet.Conn) gnet.Action {
	lp := cl.lp
	if cl.closing {
		cl.dropInput(c) // after QUIT or a protocol error nothing more is read
		return gnet.None
	}
	if cl.skip > 0 {
		k := min(cl.skip, c.InboundBuffered())
		if k > 0 {
			_, _ = c.Discard(k)
			cl.skip -= k
		}
		if cl.skip > 0 {
			return gnet.None
		}
	}
	buf, ok := cl.in.load(c, cl.need)
	if !ok {
		cl.account() // a large request on its way is held too
		return gnet.None
	}
	lp.tick()
	cl.lastActive = lp.now
	off, paused := cl.parse(buf)
	if paused && cl.in.buffered(c) > cl.lim.maxInput {
		// gnet keeps reading whatever we leave unparsed: a client that
		// pipelines far beyond its in-flight cap is cut off rather than
		// buffered without bound. Its earlier requests may wait on a
		// stalled server, so it is closed now; the error goes out only if
		// nothing is owed before it.
		cl.stats.ClientErr.Inc()
		if cl.queue.Len() == 0 {
			cl.emit(cl.overflowReply())
		}
		lp.flush()
		cl.out.flush(c) // now: the loop's deferred write would find it closed
		cl.closing = true
		return gnet.Close
	}
	lp.flush()
	if !cl.open {
		return gnet.None
	}
	if !cl.waitingMap {
		cl.mapWaitFrom = 0 // what arrives next waits for the map afresh
	}
	if cl.closing {
		cl.dropInput(c)
	} else {
		cl.in.consume(c, buf, off)
	}
	cl.account()
	return gnet.None
}

// parse parses and routes the requests at the start of buf, up to the
// first incomplete one, or until back-pressure pauses the client (paused;
// maybeResume restarts it once replies drain). It returns the bytes of buf
// consumed; a refused value longer than buf is left in cl.skip.
func (cl *client) parse(buf []byte) (off int, paused bool) {
	// cl.live(): a write made while parsing (a reply over 64 KiB, a failing
	// backend's error replies) can close this client synchronously.
	for off < len(buf) && cl.live() && !cl.closing {
		if cl.queue.Len() >= cl.lim.maxInflight || cl.unsent() > cl.lim.softOutput || cl.lp.over || cl.awaitingMap() {
			cl.throttled = true
			return off, true
		}
		var n int
		var complete bool
		switch cl.proto {
		case protoRedis:
			n, complete = cl.nextRedis(buf[off:])
		case protoMemcache:
			n, complete = cl.nextText(buf[off:])
		default:
			n, complete = cl.nextBinary(buf[off:])
		}
		if !complete {
			break
		}
		cl.need = 0
		off += n
		if off > len(buf) { // a refused value longer than what has arrived
			cl.skip = off - len(buf)
			off = len(buf)
		}
	}
	return off, false
}

// live says the client still owns its queue: its connection is open, or it
// has half-closed it and its replies go out through cl.half (until
// continueHalf ends it: a request in the queue is freed only by the queue's
// owner, even once the half-closed writer has failed).
func (cl *client) live() bool { return cl.open || cl.half != nil }

// unsent is how many reply bytes wait for the client to read them.
func (cl *client) unsent() int {
	if cl.half != nil {
		return cl.half.unsent()
	}
	return cl.gc.OutboundBuffered()
}

// dropInput forgets every unparsed byte of a client that is closing.
func (cl *client) dropInput(c gnet.Conn) {
	cl.in.reset()
	cl.need, cl.skip = 0, 0
	if n := c.InboundBuffered(); n > 0 {
		_, _ = c.Discard(n)
	}
	cl.account()
}

// account records how many bytes gnet holds for this client (unparsed input
// and unsent output) in its loop's total, which the global cap watches.
func (cl *client) account() {
	h := cl.in.buffered(cl.gc) + cl.gc.OutboundBuffered()
	cl.lp.held += int64(h - cl.held)
	cl.held = h
}

// protocolError answers reply after the replies already owed and closes
// the client: its stream cannot be resynced.
func (cl *client) protocolError(reply []byte) {
	cl.need = 0
	cl.stats.ClientErr.Inc()
	cl.answerLast(reply, false)
}

// answerLast queues the client's last reply (QUIT, a protocol error): it
// goes out after the replies already owed, then the client is closed.
// Parsing stops here, and whatever the client sent after it is dropped
// unread, as Redis and memcached do: a command pipelined behind QUIT is not
// run. owned says reply is an ownedBuf buffer, freed with the request.
func (cl *client) answerLast(reply []byte, owned bool) {
	r := cl.lp.getReq()
	r.reply, r.replyOwned = reply, owned
	r.closeAfter = true
	cl.push(r)
	cl.closing = true
	cl.lp.finish(r, reply, false)
}

func (cl *client) overflowReply() []byte {
	switch cl.proto {
	case protoRedis:
		return replyInputOverflow
	case protoMemcache:
		return replyMCInputOverflow
	}
	return nil // binary: no request to answer; the close says it
}

// emit queues reply bytes for this client's next write (see writeBuf): the
// replies several backends send one client in a loop iteration leave in one
// write.
func (cl *client) emit(b []byte) {
	if len(b) == 0 {
		return
	}
	if !cl.open {
		if cl.half != nil {
			cl.half.add(b)
			cl.lp.markClient(cl) // its flush continues its input, or ends it
		}
		return
	}
	cl.out.add(cl.gc, b)
	cl.lp.markClient(cl) // even when written at once: flush applies back-pressure
}

// conn picks this client's connection to server si. A client keeps one
// connection per server (server_connections spreads clients, not one
// client's requests), so the server executes its requests in the order sent.
func (cl *client) conn(si int) *backendConn {
	cs := cl.lpool.conns[si]
	return cs[cl.connSlot%uint32(len(cs))]
}

// push appends r to the client's queue; it is answered in this order.
func (cl *client) push(r *request) {
	r.cli = cl
	r.arrived, r.meta, cl.cur = cl.lp.now, cl.cur, reqMeta{}
	cl.queue.Push(r)
}

// finish delivers r's reply: at once (as a view) if r is the oldest request
// of its client, else stored until the requests before it are answered.
// copyIfWait says reply is a view that must be copied to be kept.
func (lp *loop) finish(r *request, reply []byte, copyIfWait bool) {
	cl := r.cli
	if cl == nil || !cl.live() {
		r.cli = nil
		lp.release(r) // orphaned: its client is gone
		return
	}
	if head, _ := cl.queue.Peek(); head != r {
		if copyIfWait {
			r.setOwnedReply(reply)
		} else {
			r.reply, r.done = reply, true
		}
		return
	}
	cl.queue.Pop()
	cl.emit(reply)
	if r.closeAfter {
		cl.closing = true
		lp.markClient(cl) // its flush closes it, even with nothing to write
	}
	lp.observe(r)
	lp.release(r)
	for {
		next, ok := cl.queue.Peek()
		if !ok || !next.done {
			break
		}
		cl.queue.Pop()
		cl.emit(next.reply)
		if next.closeAfter {
			cl.closing = true
			lp.markClient(cl)
		}
		lp.observe(next)
		lp.release(next)
	}
}

// complete is called with the reply (or failure) of a request sent to a
// backend. view says reply points into a read buffer valid only until the
// loop flushes.
func (lp *loop) complete(r *request, reply []byte, view bool) {
	if r.ticket != nil {
		lp.replyToOrigin(r, reply)
		return
	}
	p := r.parent
	if p == nil {
		lp.finish(r, reply, view)
		return
	}
	if view {
		r.setOwnedReply(reply)
	} else {
		r.setStaticReply(reply)
	}
	p.pending--
	if p.pending == 0 {
		p.bc = r.bc // the last fragment in: the server the slow log names
		lp.merge(p)
	}
}

// flush writes the queued replies in one write and applies output
// back-pressure.
func (cl *client) flush() {
	if !cl.open {
		cl.out.reset()
		if cl.half != nil {
			cl.continueHalf()
		}
		return
	}
	if cl.out.flush(cl.gc) {
		cl.lastActive = cl.lp.now // a client waiting on a slow reply was not idle
	}
	if !cl.open {
		return
	}
	out := cl.gc.OutboundBuffered()
	if out > cl.lim.hardOutput {
		// The client does not read its replies: drop it rather than buffer
		// without bound.
		cl.stats.ClientErr.Inc()
		cl.closing = true
		_ = cl.lp.el.Close(cl.gc)
		return
	}
	if cl.closing && cl.queue.Len() == 0 {
		_ = cl.lp.el.Close(cl.gc)
		return
	}
	cl.account()
	cl.maybeResume(out)
}

// maybeResume restarts parsing of a throttled client once it is under its
// limits again. gnet does not call OnTraffic for bytes it already holds, so
// the client is woken explicitly.
func (cl *client) maybeResume(out int) {
	if cl.throttled && !cl.waitingMap && !cl.closing && !cl.lp.over && cl.queue.Len() < cl.lim.maxInflight && out <= cl.lim.softOutput {
		cl.throttled = false
		_ = cl.gc.Wake(nil)
	}
}

func (cl *client) onTick() {
	if !cl.open {
		return
	}
	if cl.lim.idleTimeout > 0 && cl.queue.Len() == 0 && cl.lp.now-cl.lastActive > cl.lim.idleTimeout {
		cl.closing = true
		_ = cl.lp.el.Close(cl.gc)
		return
	}
	cl.checkMapWait()
	cl.maybeResume(cl.gc.OutboundBuffered())
}

// onClose orphans the client's unanswered requests: their backends still
// owe replies, which will be dropped when they come. A client that sent EOF
// with replies owed carries on half-closed instead (halfclose.go).
func (cl *client) onClose(err error) {
	halfClosed := errors.Is(err, io.EOF) && cl.startHalfClosed()
	cl.open = false
	cl.in.reset()
	lp := cl.lp
	lp.held -= int64(cl.held)
	cl.held = 0
	switch {
	case err == nil && cl.closing: // closed by ferry (QUIT, limits): counted where decided
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		cl.stats.ClientEOF.Inc() // the client hung up
	default:
		cl.stats.ClientErr.Inc()
	}
	cl.stats.ClientConnections.Add(-1)
	lp.removeClient(cl)
	if halfClosed {
		lp.addHalfClosed(cl)
		return
	}
	cl.orphanQueue()
	cl.out.reset()
}

// orphanQueue gives up the client's unanswered requests: their backends
// still owe replies, which are dropped when they come.
func (cl *client) orphanQueue() {
	for {
		r, ok := cl.queue.Pop()
		if !ok {
			break
		}
		r.cli = nil
		if r.done {
			cl.lp.release(r)
		}
	}
}
