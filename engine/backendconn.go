package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/codec/memcache"
	"github.com/ferry-proxy/ferry/codec/resp"
	"github.com/ferry-proxy/ferry/ring"
	"github.com/ferry-proxy/ferry/worker"
)

type connState uint8

const (
	stateIdle       connState = iota // no socket; the next request dials
	stateConnecting                  // a dial is under way; requests wait in pending
	stateConnected
	stateDown // the last dial or connection failed; requests fail fast until retryAt
)

const (
	maxPending       = 4096 // requests waiting for a dial, per connection
	minBackoff       = 50 * time.Millisecond
	maxBackoff       = 2 * time.Second
	defaultDialLimit = 5 * time.Second
)

// backendConn is one connection from one loop to one server. It lives on
// that loop; its gnet.Conn is enrolled there, so requests and replies never
// cross threads.
type backendConn struct {
	lp    *loop
	lpool *loopPool
	pool  int
	srv   int
	stats *worker.ServerStats

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

	retryAt int64
	backoff time.Duration
	lastErr error
}

// dialCtx is the gnet context of an enrolled backend connection.
type dialCtx struct {
	bc  *backendConn
	gen uint64
}

func newBackendConn(lp *loop, lpool *loopPool, pool, srv int) *backendConn {
	return &backendConn{lp: lp, lpool: lpool, pool: pool, srv: srv, stats: &lp.stats.Servers[pool][srv],
		proto: poolProtocol(lpool.pool.Cfg)}
}

func (bc *backendConn) addr() string { return bc.lpool.pool.Servers[bc.srv].Addr }

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
	case stateDown:
		if lp.now < bc.retryAt {
			bc.refuse(r)
			return
		}
		bc.dial()
	case stateIdle:
		bc.dial()
	}
	// connecting: keep our own copy of the bytes until the socket is ready
	if len(bc.pending) >= maxPending {
		bc.failOne(r, bc.protoError("too many requests waiting for a server connection"))
		return
	}
	if r.out == nil {
		r.out = append(ownedBuf(len(raw)), raw...)
	}
	bc.pending = append(bc.pending, r)
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
	bc.put(raw)
}

// put queues raw for the next write (see writeBuf).
func (bc *backendConn) put(raw []byte) {
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

// refuse fails r without sending it: the server is down.
func (bc *backendConn) refuse(r *request) {
	bc.lp.stats.Pools[bc.pool].ForwardError.Inc()
	bc.failOne(r, bc.errReply())
}

// failOne fails one request with base, the pool protocol's error reply
// (binary errors are built per request: they carry its opcode and opaque).
// A noreply request fails silently, as the client asked.
func (bc *backendConn) failOne(r *request, base []byte) {
	switch {
	case r.noreply:
		base = nil
	case bc.proto == protoMemcacheBinary && r.parent == nil:
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
	s := bc.lpool.pool.Servers[bc.srv]
	cfg := bc.lpool.pool.Cfg
	timeout := dialLimit(cfg.Timeout)
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
	bc.backoff = 0
	bc.stats.ServerConnections.Add(1)
	bc.lpool.pool.ReportSuccess(bc.srv)
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
		if r.cli == nil && r.parent == nil {
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
	bc.out.add(bc.gc, r.out) // small: flushed with what follows in onOpen
}

func (bc *backendConn) onDialFailed(gen uint64, err error) {
	if gen != bc.gen || bc.state != stateConnecting {
		return
	}
	bc.lp.tick()
	bc.fail(fmt.Errorf("connect: %w", err))
	bc.lp.flush()
}

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
	buf, ok := bc.in.load(c, bc.need)
	if !ok {
		return gnet.None
	}
	lp.tick()
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
			if resp.IsError(reply) {
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
		}
		lp.complete(r, reply, true)
	}
	lp.flush()
	if bc.gc == c { // else failed meanwhile: fail() dropped the input
		bc.in.consume(c, buf, off)
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
		err = errors.New("connection closed by server")
		bc.stats.ServerEOF.Inc()
	} else {
		bc.stats.ServerErr.Inc()
	}
	bc.fail(err)
	bc.lp.flush()
}

// fail fails every request on this connection with an error reply, marks
// the connection down, and counts a failure against the server.
func (bc *backendConn) fail(err error) {
	lp := bc.lp
	if bc.state == stateConnected {
		bc.stats.ServerConnections.Add(-1)
		gc := bc.gc
		bc.gc = nil
		bc.state = stateDown // before Close, so the nested onClose is a no-op
		if gc != nil {
			_ = lp.el.Close(gc)
		}
	}
	bc.state = stateDown
	bc.gc = nil
	bc.need = 0
	bc.in.reset()
	bc.scanner.Reset()
	bc.text.Reset()
	bc.lastErr = err
	if bc.backoff == 0 {
		bc.backoff = minBackoff
	} else if bc.backoff *= 2; bc.backoff > maxBackoff {
		bc.backoff = maxBackoff
	}
	bc.retryAt = lp.now + int64(bc.backoff)
	bc.lpool.pool.ReportFailure(bc.srv) // ejections are counted by the pool
	reply := bc.errReply()
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
		bc.failOne(r, reply)
	}
	pending := bc.pending
	bc.pending = bc.pending[:0]
	for _, r := range pending {
		bc.failOne(r, reply)
	}
}

// errReply is the error a client sees for a request this server failed.
func (bc *backendConn) errReply() []byte {
	msg := "ferry: server " + bc.addr() + " unavailable"
	if bc.lastErr != nil {
		msg += ": " + bc.lastErr.Error()
	}
	return bc.protoError(msg)
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
func (bc *backendConn) checkTimeout() {
	timeout := bc.lpool.pool.Cfg.Timeout
	switch bc.state {
	case stateConnected:
		if timeout <= 0 {
			return
		}
		r, ok := bc.fifo.Peek()
		if !ok || bc.lp.now-r.sentAt < int64(timeout) {
			return
		}
		bc.stats.ServerTimedout.Inc()
		bc.fail(fmt.Errorf("timed out after %v", timeout))
	case stateConnecting:
		// Bounded even with no pool timeout: the dial gives up after
		// dialLimit, and a second more catches a dial whose result never
		// reaches the loop (gnet reports an enrolment whose epoll
		// registration failed as a success, and OnOpen never runs).
		limit := dialLimit(timeout)
		if timeout <= 0 {
			limit += time.Second
		}
		if len(bc.pending) == 0 || bc.lp.now-bc.pending[0].sentAt < int64(limit) {
			return
		}
		bc.gen++ // the dial in flight is now stale
		bc.stats.ServerTimedout.Inc()
		bc.fail(fmt.Errorf("connect timed out after %v", limit))
	}
}

// dialLimit is how long a dial may take: the pool's timeout, else
// defaultDialLimit.
func dialLimit(timeout time.Duration) time.Duration {
	if timeout > 0 {
		return timeout
	}
	return defaultDialLimit
}
