package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/codec/memcache"
	"github.com/ferry-proxy/ferry/codec/resp"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/ring"
	"github.com/ferry-proxy/ferry/worker"
)

type connState uint8

const (
	// stateIdle: no socket. The next request dials, unless the server is
	// down (backend.Server.Down): then it is refused at once, and the
	// server's prober, not the loops, finds out when it is back.
	stateIdle       connState = iota
	stateConnecting           // a dial is under way; requests wait in pending
	stateConnected
	// stateRelay: a loop's stand-in for the connections another loop owns
	// (server_connections_scope process, handoff.go); it has no socket.
	stateRelay
)

const maxPending = 4096 // requests waiting for a dial, per connection

// backendConn is one connection from one loop to one server. It lives on
// that loop; its gnet.Conn is enrolled there, so requests and replies never
// cross threads.
type backendConn struct {
	lp    *loop
	lpool *loopPool // the pool it serves (updated in place by a reload)
	stats *worker.ServerStats
	srvh  *backend.Server // the server, its health shared by all loops
	// retiring: a reload took the server out (or lowered
	// server_connections): nothing new is routed here, and the connection
	// closes once its requests are answered.
	retiring  bool
	retiredAt int64 // lp.now when it began retiring

	gc    gnet.Conn
	state connState
	gen   uint64 // bumped per dial, so a stale dial result is ignored

	fifo    ring.FIFO[*request] // written, waiting for their replies (in order)
	pending []*request          // waiting for the dial to finish (own their bytes)
	// out holds the requests produced since the last write: it is written
	// once per loop iteration (or per callback when the loop has a single
	// client), so requests of many clients share one write.
	out     writeBuf
	dirty   bool
	need    int     // stored input bytes needed before the next reply can be complete
	in      readBuf // replies not yet matched
	proto   protocol
	scanner resp.ReplyScanner
	text    memcache.TextReplyScanner

	// Timeout bookkeeping (see checkTimeout): queued counts the bytes handed
	// to gnet for this socket; sentSeen is how many of them gnet had written
	// to the kernel at seenAt (the last tick), progressAt the last time the
	// oldest request made progress.
	queued     uint64
	sentSeen   uint64
	seenAt     int64
	progressAt int64

	// downMsg is the error reply for requests refused while the server is
	// down, built once per cause (downCause).
	downCause *backend.Failure
	downMsg   []byte

	// A relay (stateRelay, handoff.go): the index of the loop that owns the
	// connection its requests go to, that loop once known, its tickets
	// with requests in flight in the order sent (answered ones leave from
	// the head), the ticket taking this iteration's requests, and the
	// sizes its tickets need.
	owner     int
	ownerLoop *loop
	relayQ    ring.FIFO[*ticket]
	open      *ticket
	ticketHW  ticketSizes
}

// dialCtx is the gnet context of an enrolled backend connection.
type dialCtx struct {
	bc  *backendConn
	gen uint64
}

func newBackendConn(lp *loop, lpool *loopPool, srv *backend.Server) *backendConn {
	return &backendConn{lp: lp, lpool: lpool, stats: &srv.Shards[lp.idx], srvh: srv,
		proto: poolProtocol(lpool.pool.Cfg)}
}

func (bc *backendConn) addr() string { return bc.srvh.Addr }

// closeIfDrained closes a retiring connection that has nothing in flight:
// no request waiting for a reply or a dial, and every byte queued for the
// server written (noreply requests are done once queued: closing with them
// still in the write buffer, or in gnet's, would lose them). A server that
// does not take them within the reload grace limit is cut off.
func (bc *backendConn) closeIfDrained() {
	if !bc.retiring || bc.fifo.Len() > 0 || len(bc.pending) > 0 {
		return
	}
	switch bc.state {
	case stateRelay:
		if bc.relayQ.Len() == 0 {
			bc.state = stateIdle // nothing in flight: sweepRetired forgets it
		}
	case stateConnected:
		if bc.out.flush(bc.gc) && bc.state != stateConnected {
			return // the write failed: fail() has closed it
		}
		if bc.gc.OutboundBuffered() > 0 && bc.lp.now-bc.retiredAt < int64(bc.lp.srv.opts.ReloadGrace) {
			return // the next tick looks again
		}
		bc.stats.ServerConnections.Add(-1)
		gc := bc.gc
		bc.gc, bc.state = nil, stateIdle // before Close: the nested onClose is a no-op
		bc.out.reset()
		_ = bc.lp.el.Close(gc)
	case stateConnecting:
		bc.gen++ // the dial's result is stale: onOpen closes it
		bc.state = stateIdle
	}
}

// enqueue sends r to this connection's server. raw are the request bytes;
// when r.out is nil they are a view into the client's input that stays valid
// until the loop flushes.
func (bc *backendConn) enqueue(r *request, raw []byte) {
	lp := bc.lp
	r.bc = bc
	r.sentAt = lp.now
	switch bc.state {
	case stateConnected:
		bc.send(r, raw)
		lp.markBackend(bc)
		return
	case stateRelay:
		bc.handOff(r, raw)
		return
	case stateIdle:
		if bc.srvh.Down() {
			if !bc.holdForFailover(r) {
				bc.refuse(r)
			}
			return
		}
		if bc.retiring { // not reachable from a pool any more; defensive
			bc.lpool.shard.ForwardError.Inc()
			bc.failOne(r, bc.protoError("server "+bc.addr()+" was removed from the pool by a reload"))
			return
		}
		bc.dial()
	}
	// connecting: keep our own copy of the bytes until the socket is ready
	if len(bc.pending) >= bc.maxPending() {
		bc.lpool.shard.ForwardError.Inc()
		bc.failOne(r, bc.protoError("too many requests waiting for a server connection"))
		return
	}
	if r.out == nil {
		r.out = append(ownedBuf(len(raw)), raw...)
	}
	bc.pending = append(bc.pending, r)
}

// maxPending is how many requests may wait for the dial: maxPending per
// loop whose requests come here (in scope "process", every loop's).
func (bc *backendConn) maxPending() int {
	if bc.lpool.pool.Cfg.ServerConnectionsScope == config.ScopeProcess {
		return maxPending * max(bc.lp.srv.opts.Threads, 1)
	}
	return maxPending
}

// send queues raw for this callback's writev. A request that expects a
// reply waits in the FIFO for it; a noreply one is done as soon as it is
// on its way.
func (bc *backendConn) send(r *request, raw []byte) {
	if bc.state != stateConnected {
		// A write earlier in this callback failed and closed the
		// connection (onOpen sending what waited for the dial).
		bc.refuse(r)
		return
	}
	bc.stats.Requests.Inc()
	bc.stats.RequestBytes.Add(uint64(len(raw)))
	if r.noreply {
		bc.put(raw)
		bc.lp.complete(r, nil, false)
		return
	}
	// On the FIFO before the bytes are queued: queueing may write, a failed
	// write closes the connection at once, and fail() must find r there.
	bc.fifo.Push(r)
	bc.stats.InQueue.Add(1)
	r.wireEnd = bc.queued + uint64(len(raw))
	bc.put(raw)
}

// put queues raw for the next write (see writeBuf).
func (bc *backendConn) put(raw []byte) {
	bc.queued += uint64(len(raw))
	if bc.out.add(bc.gc, raw) {
		bc.lp.markBackend(bc)
		return
	}
	bc.checkBacklog() // written at once
}

// checkBacklog fails the connection when its server has stopped reading.
// gnet keeps whatever the socket does not take, without bound; requests
// that wait for replies are caught by the timeout, but noreply ones are
// done once sent and would pile up there unseen (a stalled memcached fed
// noreply sets grew the heap by 400 MB in 1.6 s). The bound is the pool's
// max_output_bytes, the same as for a client that does not read.
func (bc *backendConn) checkBacklog() {
	if bc.state != stateConnected {
		return
	}
	limit := maxOutputBytes(bc.lpool.pool.Cfg.Limits)
	if n := bc.gc.OutboundBuffered(); int64(n) > limit {
		bc.stats.ServerErr.Inc()
		bc.fail(fmt.Errorf("server is not reading: %d bytes of requests unsent (max_output_bytes %d)", n, limit))
	}
}

// refuse fails r without sending it: the server is down. Counted, as in
// twemproxy, as a forward error of the pool.
func (bc *backendConn) refuse(r *request) {
	if bc.lpool.pool.IsCluster() {
		bc.lpool.pool.RequestRefresh() // a failover may have moved its slots
	}
	bc.lpool.shard.ForwardError.Inc()
	bc.srvh.RequestFailed()
	bc.failOne(r, bc.downReply())
}

// downReply is the error for a request refused while the server is down:
// the cause the server went down with, or the latest failed probe's.
func (bc *backendConn) downReply() []byte {
	f := bc.srvh.Cause()
	if f == nil {
		f = backend.NewFailure(errors.New("down"))
	}
	if f != bc.downCause {
		bc.downCause, bc.downMsg = f, bc.errReply(f.Text)
	}
	return bc.downMsg
}

// failOne fails one request with base, the pool protocol's error reply
// (binary errors are built per request: they carry its opcode and opaque).
// A noreply request fails silently, as the client asked.
func (bc *backendConn) failOne(r *request, base []byte) {
	switch {
	case r.noreply:
		base = nil
	case bc.proto == protoMemcacheBinary && r.parent == nil && !r.handFrag:
		base = memcache.AppendBinaryError(nil, r.binOp, memcache.StatusTemporaryError, r.binOpaque, string(base))
	}
	bc.lp.complete(r, base, false)
}

// dial starts connecting off the loop; the socket is enrolled back on this
// loop, where onOpen runs.
func (bc *backendConn) dial() {
	bc.state = stateConnecting
	bc.gen++
	gen := bc.gen
	s := bc.srvh
	cfg := bc.lpool.pool.Cfg
	timeout := backend.DialLimit(cfg.Timeout)
	el := bc.lp.el
	go func() {
		d := net.Dialer{Timeout: timeout}
		nc, err := d.Dial(s.Network, s.Addr)
		if err == nil {
			if tc, ok := nc.(*net.TCPConn); ok && cfg.TCPKeepalive {
				_ = tc.SetKeepAlive(true)
			}
			var ch <-chan gnet.RegisteredResult
			ch, err = el.Enroll(gnet.NewContext(context.Background(), &dialCtx{bc: bc, gen: gen}), nc)
			if err == nil {
				res := <-ch
				err = res.Err
			}
			_ = nc.Close() // gnet owns a dup of the descriptor
		}
		if err != nil {
			_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				bc.onDialFailed(gen, err)
				return nil
			}))
		}
	}()
}

// onOpen runs on the loop when the dialled socket is enrolled.
func (bc *backendConn) onOpen(c gnet.Conn, gen uint64) gnet.Action {
	if gen != bc.gen || bc.state != stateConnecting {
		return gnet.Close // stale: a newer dial or a shutdown superseded it
	}
	lp := bc.lp
	lp.tick()
	bc.gc, bc.state, bc.need = c, stateConnected, 0
	bc.in.reset()
	bc.scanner.Reset()
	bc.queued, bc.sentSeen, bc.seenAt, bc.progressAt = 0, 0, lp.now, 0
	bc.stats.ServerConnections.Add(1)
	cfg := bc.lpool.pool.Cfg
	if cfg.Redis && cfg.RedisAuth != "" {
		bc.sendInternal(resp.AppendBulkString(resp.AppendBulkString(resp.AppendArrayHeader(nil, 2), "AUTH"), cfg.RedisAuth))
	}
	if cfg.Redis && cfg.RedisDB != 0 {
		bc.sendInternal(resp.AppendBulkString(resp.AppendBulkString(resp.AppendArrayHeader(nil, 2), "SELECT"), fmt.Sprint(cfg.RedisDB)))
	}
	pending := bc.pending
	bc.pending = bc.pending[:0]
	for _, r := range pending {
		if r.cli == nil && r.parent == nil && !r.internal && r.ticket == nil {
			lp.putReq(r) // its client left while we dialled
			continue
		}
		r.sentAt = lp.now
		bc.send(r, r.out)
	}
	lp.markBackend(bc)
	lp.flush()
	return gnet.None
}

func (bc *backendConn) sendInternal(b []byte) {
	if bc.state != stateConnected {
		return // failed meanwhile; the next connection sends its own
	}
	r := bc.lp.getReq()
	r.internal = true
	r.out = append(ownedBuf(len(b)), b...)
	r.sentAt = bc.lp.now
	r.bc = bc
	bc.fifo.Push(r)
	bc.stats.InQueue.Add(1)
	bc.queued += uint64(len(r.out))
	r.wireEnd = bc.queued
	bc.out.add(bc.gc, r.out) // small: flushed with what follows in onOpen
}

func (bc *backendConn) onDialFailed(gen uint64, err error) {
	if gen != bc.gen || bc.state != stateConnecting {
		return
	}
	bc.lp.tick()
	if backend.ErrorText(err) == timedOutText {
		bc.stats.ServerTimedout.Inc()
	} else {
		bc.stats.ServerErr.Inc()
	}
	bc.fail(fmt.Errorf("connect: %w", err))
	bc.lp.flush()
}

var timedOutText = backend.Strerror(syscall.ETIMEDOUT)

// flush writes the requests queued since the last flush in one write.
func (bc *backendConn) flush() {
	if bc.state != stateConnected {
		bc.out.reset()
		return
	}
	if bc.out.flush(bc.gc) {
		bc.checkBacklog()
	}
}

// onTraffic matches every complete reply to the oldest request on this
// connection.
func (bc *backendConn) onTraffic(c gnet.Conn) gnet.Action {
	lp := bc.lp
	lp.tick()
	// Reply bytes arrived (see checkTimeout), also those of a large reply
	// that is not complete yet.
	bc.progressAt = lp.now
	buf, ok := bc.in.load(c, bc.need)
	if !ok {
		return gnet.None
	}
	bc.srvh.ReportSuccess()
	off := 0
	for off < len(buf) {
		head, ok := bc.fifo.Peek()
		if !ok {
			lp.flush()
			bc.abort(c, errors.New("reply without a request"))
			return gnet.Close
		}
		n, need, err := bc.scan(head, buf[off:])
		if err == resp.ErrIncomplete || err == memcache.ErrIncomplete {
			bc.need = need // a large reply is not rescanned per read
			break
		}
		if err != nil {
			lp.flush()
			bc.abort(c, fmt.Errorf("protocol error in reply: %w", err))
			return gnet.Close
		}
		bc.need = 0
		r, _ := bc.fifo.Pop()
		bc.stats.InQueue.Add(-1)
		reply := buf[off : off+n]
		off += n
		bc.stats.Responses.Inc()
		bc.stats.ResponseBytes.Add(uint64(n))
		if r.internal {
			// A server without a password answers AUTH with an error that
			// twemproxy ignores: the connection works without it.
			if resp.IsError(reply) && !backend.IsNoPasswordError(string(reply)) {
				lp.flush()
				bc.abort(c, fmt.Errorf("backend rejected %s", reply[:len(reply)-2]))
				lp.putReq(r)
				return gnet.Close
			}
			lp.putReq(r)
			continue
		}
		if bc.proto == protoMemcacheBinary {
			reply = binaryReply(r, reply)
		} else if reply[0] == '-' && bc.lpool.pool.IsCluster() && isRedirect(reply) {
			lp.redirect(bc, r, reply)
			continue
		}
		lp.complete(r, reply, true)
	}
	lp.flush()
	if bc.gc == c { // else failed meanwhile: fail() dropped the input
		bc.in.consume(c, buf, off)
		bc.closeIfDrained()
	}
	return gnet.None
}

// scan finds the end of the reply to r at the start of b.
func (bc *backendConn) scan(r *request, b []byte) (n, need int, err error) {
	switch bc.proto {
	case protoRedis:
		n, err = bc.scanner.Scan(b)
		return n, bc.scanner.Need(), err
	case protoMemcache:
		return bc.text.Scan(r.mcCmd, b)
	}
	return memcache.ScanBinaryReply(b)
}

// abort marks the connection failed before the current callback returns
// Close for it; onClose then finds it already handled.
func (bc *backendConn) abort(c gnet.Conn, err error) {
	if bc.gc != c {
		return
	}
	bc.stats.ServerErr.Inc()
	bc.fail(err)
	bc.lp.flush()
}

// onClose runs when gnet closes the socket (EOF, error, or our Close).
func (bc *backendConn) onClose(c gnet.Conn, err error) {
	if bc.gc != c || bc.state != stateConnected {
		return
	}
	bc.lp.tick()
	if err == nil || errors.Is(err, io.EOF) {
		bc.stats.ServerEOF.Inc()
		if bc.fifo.Len() == 0 && len(bc.pending) == 0 {
			// An idle connection closed by the server (Redis's `timeout`,
			// a restart): nothing failed, the next request dials again.
			bc.stats.ServerConnections.Add(-1)
			bc.gc, bc.state = nil, stateIdle
			bc.out.reset()
			return
		}
		err = errors.New("connection closed by server")
	} else {
		bc.stats.ServerErr.Inc()
	}
	bc.fail(err)
	bc.lp.flush()
}

// fail fails every request on this connection with err, closes it, and
// reports the failure to the pool (which marks the server down on the
// first failure of an outage: see backend/health.go).
func (bc *backendConn) fail(err error) {
	lp := bc.lp
	if bc.state == stateConnected {
		bc.stats.ServerConnections.Add(-1)
		gc := bc.gc
		bc.gc = nil
		bc.state = stateIdle // before Close, so the nested onClose is a no-op
		if gc != nil {
			_ = lp.el.Close(gc)
		}
	}
	bc.state = stateIdle
	bc.gc = nil
	bc.need = 0
	bc.in.reset()
	bc.scanner.Reset()
	bc.text.Reset()
	if !bc.retiring { // a server that left is no one's to probe
		bc.srvh.ReportFailure(err)
	}
	if bc.lpool.pool.IsCluster() {
		bc.lpool.pool.RequestRefresh() // a failover may have moved its slots
	}
	reply := bc.errReply(backend.ErrorText(err))
	bc.out.reset()
	for {
		r, ok := bc.fifo.Pop()
		if !ok {
			break
		}
		bc.stats.InQueue.Add(-1)
		if r.internal {
			lp.putReq(r)
			continue
		}
		bc.srvh.RequestFailed()
		bc.failOne(r, reply)
	}
	pending := bc.pending
	bc.pending = bc.pending[:0]
	for _, r := range pending {
		// never forwarded: the dial they waited for failed
		if bc.holdForFailover(r) {
			continue
		}
		bc.lpool.shard.ForwardError.Inc()
		bc.srvh.RequestFailed()
		bc.failOne(r, reply)
	}
}

// errReply is the error a client sees for a request this server failed:
// "ferry: server ADDR unavailable: CAUSE", CAUSE as backend.ErrorText
// gives it (strerror's "Connection refused", as twemproxy says).
func (bc *backendConn) errReply(cause string) []byte {
	return bc.protoError("ferry: server " + bc.addr() + " unavailable: " + cause)
}

// protoError is msg as an error reply in the pool's protocol; for binary
// it is the message only (failOne builds the packet per request).
func (bc *backendConn) protoError(msg string) []byte {
	switch bc.proto {
	case protoRedis:
		return resp.AppendError(nil, "ERR "+msg)
	case protoMemcache:
		return memcache.AppendServerError(nil, msg)
	}
	return []byte(msg)
}

// checkTimeout fails the connection when its oldest request has waited
// longer than the pool's timeout, as twemproxy does: the server is slow or
// stalled, and a late reply could no longer be matched.
//
// The timeout measures the server's time, not the upload's: the oldest
// request times out when `timeout` has passed since the latest of
//   - its enqueueing (small requests are handed to the kernel then);
//   - the last tick that found more of its bytes handed to the kernel than
//     the tick before (a large request still going out: its wait starts
//     once its last byte has left, and an upload that stops moving is timed
//     out like a reply that does not come);
//   - the last arrival of reply bytes on the connection (replies come in
//     order: those bytes complete earlier requests or are the start of its
//     own, such as a reply of many megabytes still arriving).
//
// Bytes of later requests going out do not count: the kernel accepts
// megabytes for a server that is stalled.
func (bc *backendConn) checkTimeout() {
	timeout := bc.lpool.pool.Cfg.Timeout
	now := bc.lp.now
	switch bc.state {
	case stateRelay:
		bc.checkRelay()
	case stateConnected:
		r, ok := bc.fifo.Peek()
		if !ok {
			bc.sentSeen, bc.seenAt = bc.queued, now
			return
		}
		sent := bc.queued - uint64(bc.out.len()) - uint64(bc.gc.OutboundBuffered())
		if r.wireEnd > bc.sentSeen && sent > bc.sentSeen && r.sentAt < bc.seenAt {
			bc.progressAt = now // more of r has gone out since the last tick
		}
		bc.sentSeen, bc.seenAt = sent, now
		if timeout <= 0 {
			return
		}
		if now-max(r.sentAt, bc.progressAt) < int64(timeout) {
			return
		}
		bc.stats.ServerTimedout.Inc()
		bc.fail(fmt.Errorf("no reply within timeout %v: %w", timeout, syscall.ETIMEDOUT))
	case stateConnecting:
		// Bounded even with no pool timeout: the dial gives up after
		// DialLimit, and a second more catches a dial whose result never
		// reaches the loop (gnet reports an enrolment whose epoll
		// registration failed as a success, and OnOpen never runs).
		limit := backend.DialLimit(timeout)
		if timeout <= 0 {
			limit += time.Second
		}
		if len(bc.pending) == 0 || now-bc.pending[0].sentAt < int64(limit) {
			return
		}
		bc.gen++ // the dial in flight is now stale
		bc.stats.ServerTimedout.Inc()
		bc.fail(fmt.Errorf("connect timed out after %v: %w", limit, syscall.ETIMEDOUT))
	}
}
