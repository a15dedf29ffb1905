package engine

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A client that shuts down its sending side after its last request
// (`printf 'set ...\r\nget k\r\n' | nc -q1 host port`, a script's
// shutdown(SHUT_WR)) still expects every reply, then the close: Redis,
// memcached and nutcracker all answer it. gnet closes a connection as soon
// as a read returns EOF, so before its descriptor goes, ferry keeps a dup
// of it and carries on the client outside gnet: its replies are written by
// a goroutine of its own (halfClosed.run), and what it had sent but ferry
// had not parsed yet (requests held back by max_inflight) is parsed as
// replies drain, exactly as before the EOF. When the last reply is written
// the socket is closed.
//
// Only clients with replies owed take this path; a client that hangs up
// with nothing in flight is closed as before, without a dup. The rare case
// where gnet still holds unsent replies that the socket will not take at
// once (a client that half-closed and also stopped reading) cannot be
// carried on: gnet drops them on close, and writing the later ones would
// leave a hole in the stream; that client is closed as before.

// halfClosed is the write side of a half-closed client. add runs on the
// client's loop; run is the writer goroutine.
type halfClosed struct {
	nc   net.Conn // a dup of the client's socket, outside gnet
	kick chan struct{}

	mu      sync.Mutex
	buf     []byte // replies for the writer, in order
	done    bool   // no more replies: close once buf is written
	pending atomic.Int64
	failed  atomic.Bool // the writer gave up: the client is gone or does not read

	// loop side
	input     []byte // what the client sent that was not parsed at its EOF
	off       int    // input[:off] is parsed
	parsedAll bool   // input holds no further complete request
	parsing   bool   // continueHalf is parsing: a flush nested in it must not parse again
}

// halfWriteTimeout is how long the writer waits for a half-closed client to
// read before it gives up on it.
const halfWriteTimeout = 30 * time.Second

// halfWriteChunk is the most written under one deadline, so that the
// deadline measures a client that stops reading, not a large reply.
const halfWriteChunk = 256 << 10

// startHalfClosed runs in OnClose, after gnet read EOF from the client and
// before it closes the descriptor. It reports whether the client carries on
// half-closed; if not, it is closed as any other.
func (cl *client) startHalfClosed() bool {
	c := cl.gc
	input := cl.in.buffered(c) > cl.skip && !cl.closing
	if cl.queue.Len() == 0 && len(cl.out.buf) == 0 && !input {
		return false // nothing owed
	}
	if c.OutboundBuffered() > 0 {
		if _ = c.Flush(); c.OutboundBuffered() > 0 {
			return false // see above: gnet would drop what it holds
		}
	}
	fd, err := c.Dup()
	if err != nil {
		cl.lp.srv.log.Warn("cannot keep a half-closed client for its replies", "client", c.RemoteAddr(), "err", err)
		return false
	}
	f := os.NewFile(uintptr(fd), "client")
	nc, err := net.FileConn(f) // a dup of its own, on Go's poller
	_ = f.Close()
	if err != nil {
		cl.lp.srv.log.Warn("cannot keep a half-closed client for its replies", "client", c.RemoteAddr(), "err", err)
		return false
	}
	h := &halfClosed{nc: nc, kick: make(chan struct{}, 1)}
	if input {
		// The unparsed bytes are copied: gnet's buffers go with the conn.
		rest := cl.in.acc[cl.in.start:]
		b, _ := c.Peek(-1)
		h.input = make([]byte, 0, len(rest)+len(b))
		h.input = append(append(h.input, rest...), b...)
		h.off = min(cl.skip, len(h.input)) // the rest of a refused value
	} else {
		h.parsedAll = true
	}
	cl.skip = 0
	h.add(cl.out.buf)
	cl.out.reset()
	cl.half = h
	cl.lp.srv.halves.Store(h, struct{}{})
	go h.run(cl.lp.srv)
	return true
}

// add queues b (copied) for the writer.
func (h *halfClosed) add(b []byte) {
	if len(b) == 0 || h.failed.Load() {
		return
	}
	h.mu.Lock()
	h.buf = append(h.buf, b...)
	h.mu.Unlock()
	h.pending.Add(int64(len(b)))
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// unsent is how many reply bytes the writer has not written yet.
func (h *halfClosed) unsent() int { return int(h.pending.Load()) }

// finish tells the writer that no reply follows: it closes the socket once
// what is queued is written.
func (h *halfClosed) finish() {
	h.mu.Lock()
	h.done = true
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// abort drops the client at once (the server is stopping).
func (h *halfClosed) abort() {
	h.failed.Store(true)
	h.finish()
	_ = h.nc.Close()
}

func (h *halfClosed) run(srv *Server) {
	defer srv.halves.Delete(h)
	defer h.nc.Close()
	var batch []byte
	for {
		h.mu.Lock()
		for len(h.buf) == 0 && !h.done {
			h.mu.Unlock()
			<-h.kick
			h.mu.Lock()
		}
		if len(h.buf) == 0 { // done, and everything is written
			h.mu.Unlock()
			return
		}
		batch, h.buf = h.buf, batch[:0]
		h.mu.Unlock()
		for b := batch; len(b) > 0; {
			n := min(len(b), halfWriteChunk)
			_ = h.nc.SetWriteDeadline(time.Now().Add(halfWriteTimeout))
			if _, err := h.nc.Write(b[:n]); err != nil || h.failed.Load() {
				h.failed.Store(true) // the loop orphans what is still owed
				return
			}
			h.pending.Add(int64(-n))
			b = b[n:]
		}
	}
}

// continueHalf runs on the loop whenever replies went to a half-closed
// client, and on every tick: it parses more of what the client sent when
// back-pressure allows, and ends the client once everything is answered.
func (cl *client) continueHalf() {
	h := cl.half
	if h.parsing {
		return // nested: a write made while parsing failed and flushed the loop
	}
	if h.unsent() > cl.lim.hardOutput {
		h.abort() // it does not read its replies: as an open client, it is dropped
	}
	if h.failed.Load() {
		cl.endHalf()
		return
	}
	if !h.parsedAll && !cl.closing && cl.queue.Len() < cl.lim.maxInflight &&
		h.unsent() <= cl.lim.softOutput && !cl.lp.over {
		cl.throttled = false
		h.parsing = true
		n, paused := cl.parse(h.input[h.off:])
		h.parsing = false
		h.off += n
		if !paused {
			// Nothing more will arrive: what is left is a partial request.
			h.parsedAll = true
		}
		if cl.skip > 0 {
			cl.skip, h.off = 0, len(h.input)
		}
	}
	if cl.queue.Len() == 0 && (h.parsedAll || cl.closing) {
		cl.endHalf()
		return
	}
	cl.accountHalf()
}

// endHalf lets the writer close the socket after the replies it has, and
// forgets the client. Requests still queued (only when the writer failed)
// are orphaned.
func (cl *client) endHalf() {
	h := cl.half
	cl.orphanQueue()
	h.input = nil
	h.finish()
	cl.half = nil
	cl.accountHalf()
	cl.lp.removeHalfClosed(cl)
}

// accountHalf counts what a half-closed client holds in its loop's total.
func (cl *client) accountHalf() {
	held := 0
	if h := cl.half; h != nil {
		held = len(h.input) - h.off + h.unsent()
	}
	cl.lp.held += int64(held - cl.held)
	cl.held = held
}

func (lp *loop) addHalfClosed(cl *client) {
	lp.halfClosed = addTo(lp.halfClosed, cl)
	cl.accountHalf()
	lp.markClient(cl) // its flush parses what it sent, or ends it
}

func (lp *loop) removeHalfClosed(cl *client) { lp.halfClosed = removeFrom(lp.halfClosed, cl) }

// abortHalfClosed drops every half-closed client (the server has stopped).
func (s *Server) abortHalfClosed() {
	s.halves.Range(func(k, _ any) bool {
		k.(*halfClosed).abort()
		return true
	})
}
