package engine

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/codec/resp"
	"github.com/ferry-proxy/ferry/ring"
	"github.com/ferry-proxy/ferry/worker"
)

// client is one client connection. It belongs to one loop for life.
type client struct {
	gc    gnet.Conn
	lp    *loop
	lpool *loopPool
	pool  int
	stats *worker.PoolStats
	slot  int // index in lp.clients
	open  bool

	parser resp.Parser
	req    resp.Request
	need   int // inbound bytes needed before the partial request can complete

	queue ring.FIFO[*request] // requests in the order they came
	iov   [][]byte            // replies to write at the end of this callback
	dirty bool

	authed     bool
	closing    bool // close once the queue has drained (QUIT, protocol error)
	throttled  bool // parsing paused by back-pressure
	lastActive int64

	lim clientLimits
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

// emit queues reply bytes for this client's next write. b must stay valid
// until the loop flushes.
func (cl *client) emit(b []byte) {
	if !cl.open {
		return
	}
	cl.iov = append(cl.iov, b)
	cl.lp.markClient(cl)
}

// push appends r to the client's queue; it is answered in this order.
func (cl *client) push(r *request) {
	r.cli = cl
	cl.queue.Push(r)
}

// finish delivers r's reply: at once (as a view) if r is the oldest request
// of its client, else stored until the requests before it are answered.
// copyIfWait says reply is a view that must be copied to be kept.
func (lp *loop) finish(r *request, reply []byte, copyIfWait bool) {
	cl := r.cli
	if cl == nil || !cl.open {
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
	}
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
		}
		lp.release(next)
	}
}

// complete is called with the reply (or failure) of a request sent to a
// backend. view says reply points into a read buffer valid only until the
// loop flushes.
func (lp *loop) complete(r *request, reply []byte, view bool) {
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
		lp.merge(p)
	}
}

// flush writes the replies gathered in this callback in one writev and
// applies output back-pressure.
func (cl *client) flush() {
	if !cl.open {
		cl.clearIov()
		return
	}
	iov := cl.iov
	for len(iov) > 0 && cl.open {
		n := len(iov)
		if n > maxIovecs {
			n = maxIovecs
		}
		if _, err := cl.gc.Writev(iov[:n]); err != nil {
			break // gnet closed it; onClose ran
		}
		iov = iov[n:]
	}
	cl.clearIov()
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
	cl.maybeResume(out)
}

// maybeResume restarts parsing of a throttled client once it is under its
// limits again. gnet does not call OnTraffic for bytes it already holds, so
// the client is woken explicitly.
func (cl *client) maybeResume(out int) {
	if cl.throttled && !cl.closing && cl.queue.Len() < cl.lim.maxInflight && out <= cl.lim.softOutput {
		cl.throttled = false
		_ = cl.gc.Wake(nil)
	}
}

func (cl *client) clearIov() {
	for i := range cl.iov {
		cl.iov[i] = nil
	}
	cl.iov = cl.iov[:0]
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
	cl.maybeResume(cl.gc.OutboundBuffered())
}

// onClose orphans the client's unanswered requests: their backends still
// owe replies, which will be dropped when they come.
func (cl *client) onClose(err error) {
	cl.open = false
	lp := cl.lp
	if err != nil {
		cl.stats.ClientErr.Inc()
	} else if !cl.closing {
		cl.stats.ClientEOF.Inc()
	}
	cl.stats.ClientConnections.Add(-1)
	for {
		r, ok := cl.queue.Pop()
		if !ok {
			break
		}
		r.cli = nil
		if r.done {
			lp.release(r)
		}
	}
	cl.clearIov()
	lp.removeClient(cl)
}
