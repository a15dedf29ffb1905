package engine_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// edgeFake is a tiny misbehaving backend: for every request it reads (one
// RESP command, or one memcache text line), it writes what its current
// behaviour returns, and closes the connection if told to.
type edgeFake struct {
	ln       net.Listener
	addr     string
	behave   atomic.Pointer[edgeBehaviour]
	requests atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

type edgeBehaviour struct {
	reply string
	close bool // close the connection right after reply
}

func edgeStartFake(t *testing.T, reply string, closeAfter bool, textLines bool) *edgeFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &edgeFake{ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	f.set(reply, closeAfter)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns[c] = true
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer func() {
					f.mu.Lock()
					delete(f.conns, c)
					f.mu.Unlock()
					_ = c.Close()
				}()
				br := bufio.NewReader(c)
				for {
					if textLines {
						if _, err := br.ReadString('\n'); err != nil {
							return
						}
					} else if _, err := testutil.ReadReply(br); err != nil {
						return
					}
					f.requests.Add(1)
					b := f.behave.Load()
					if _, err := c.Write([]byte(b.reply)); err != nil || b.close {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		f.mu.Lock()
		for c := range f.conns {
			_ = c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *edgeFake) set(reply string, closeAfter bool) {
	f.behave.Store(&edgeBehaviour{reply: reply, close: closeAfter})
}

// edgeStartMixedProxy serves a redis pool over a real redis-server (server0)
// and the fake (server1).
func edgeStartMixedProxy(t *testing.T, real *testutil.Proc, fake *edgeFake, extra ...string) *proxy {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	var b strings.Builder
	fmt.Fprintf(&b, "alpha:\n  listen: %s\n  redis: true\n  hash: murmur\n", listen)
	for _, e := range extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	fmt.Fprintf(&b, "  servers:\n    - %s:1 server0\n    - %s:1 server1\n", real.Addr, fake.addr)
	return startProxyYAML(t, b.String(), []*testutil.Proc{real})
}

// A backend that dies in the middle of a reply: the request (and every
// other one pipelined behind it on that connection) gets an error reply,
// in order, without hanging; the live server is unaffected; once the
// backend behaves again, requests to it work.
func TestEdgeBackendClosesMidReply(t *testing.T) {
	real := testutil.StartRedis(t)
	fake := edgeStartFake(t, "$10\r\nhel", true, false) // half a bulk string, then close
	p := edgeStartMixedProxy(t, real, fake)
	kReal := edgeKeyFor(t, p, real.Addr, "r")
	kFake := edgeKeyFor(t, p, fake.addr, "f")
	c := p.client(t)
	require.NoError(t, c.Set(ctx, kReal, "live", 0).Err())

	start := time.Now()
	err := c.Get(ctx, kFake).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "ferry: server "+fake.addr+" unavailable: ")
	require.Less(t, time.Since(start), 2*time.Second)

	// a pipeline: fake, real, fake, real. The fake's requests fail (the
	// first one mid-reply, the rest with it or fast while reconnecting);
	// the real ones answer; order holds.
	conn := testutil.RawConn(t, p.addr)
	var req []byte
	for i := 0; i < 3; i++ {
		req = append(req, testutil.Command("GET", kFake)...)
		req = append(req, testutil.Command("GET", kReal)...)
	}
	conn.Send(req)
	for i := 0; i < 3; i++ {
		r, err := conn.ReadReply()
		require.NoError(t, err, "reply %d never came", 2*i)
		require.True(t, strings.HasPrefix(string(r), "-ERR ferry: server "+fake.addr+" unavailable"), "reply %d: %q", 2*i, r)
		r, err = conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, "$4\r\nlive\r\n", string(r), "reply %d", 2*i+1)
	}

	// the fake comes back to its senses
	fake.set("$2\r\nok\r\n", false)
	require.Eventually(t, func() bool { return c.Get(ctx, kFake).Val() == "ok" }, 5*time.Second, 10*time.Millisecond)
	r, err := conn.Do("GET", kFake)
	require.NoError(t, err)
	require.Equal(t, "$2\r\nok\r\n", string(r))
}

// A reply cut inside a split command's fragment fails the whole command,
// not the client.
func TestEdgeBackendClosesMidReplyOfFragment(t *testing.T) {
	real := testutil.StartRedis(t)
	fake := edgeStartFake(t, "*2\r\n$1\r\na\r\n$5\r\nhe", true, false)
	p := edgeStartMixedProxy(t, real, fake)
	kReal := edgeKeyFor(t, p, real.Addr, "r")
	kFake := edgeKeyFor(t, p, fake.addr, "f")
	c := p.client(t)
	require.NoError(t, c.Set(ctx, kReal, "live", 0).Err())
	err := c.MGet(ctx, kReal, kFake, kReal).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "unavailable")
	require.Equal(t, "live", c.Get(ctx, kReal).Val())
}

// A backend that answers garbage: the client gets an error naming the
// protocol error, the connection to that backend is dropped, and the proxy
// keeps serving the other server (and that client).
func TestEdgeBackendSendsGarbage(t *testing.T) {
	for _, garbage := range []string{"xyz\r\n", "$abc\r\n", "*-7\r\n", ":12x\r\n", "$3\r\nabcde\r\n", "+OK\nmore\r\n"} {
		t.Run(fmt.Sprintf("%q", garbage), func(t *testing.T) {
			real := testutil.StartRedis(t)
			fake := edgeStartFake(t, garbage, false, false)
			p := edgeStartMixedProxy(t, real, fake)
			kReal := edgeKeyFor(t, p, real.Addr, "r")
			kFake := edgeKeyFor(t, p, fake.addr, "f")
			c := p.client(t)
			require.NoError(t, c.Set(ctx, kReal, "live", 0).Err())

			conn := testutil.RawConn(t, p.addr)
			r, err := conn.Do("GET", kFake)
			require.NoError(t, err, "no reply: the client hangs")
			require.True(t, strings.HasPrefix(string(r), "-ERR ferry: server "+fake.addr+" unavailable: protocol error in reply"), "%q", r)
			r, err = conn.Do("GET", kReal)
			require.NoError(t, err)
			require.Equal(t, "$4\r\nlive\r\n", string(r))
			for i := 0; i < 20; i++ {
				require.Equal(t, "live", c.Get(ctx, kReal).Val())
			}
			fake.set("+PONG\r\n", false)
			require.Eventually(t, func() bool {
				return c.Do(ctx, "GET", kFake).Val() == "PONG"
			}, 5*time.Second, 10*time.Millisecond)
		})
	}
}

// A backend that closes its connection in an orderly way (FIN) after a
// partial reply: README's failure semantics name the cause "connection
// closed by server".
func TestEdgeBackendCloseCause(t *testing.T) {
	real := testutil.StartRedis(t)
	fake := edgeStartFake(t, "$10\r\nhel", true, false)
	p := edgeStartMixedProxy(t, real, fake)
	kFake := edgeKeyFor(t, p, fake.addr, "f")
	r, err := testutil.RedisDo(p.addr, "GET", kFake)
	require.NoError(t, err)
	want := "-ERR ferry: server " + fake.addr + " unavailable: connection closed by server\r\n"
	require.Equal(t, want, string(r))
}

// A reply line ending in a bare LF is not a complete RESP line: without a
// pool timeout the request would wait for ever, with one it fails in time.
func TestEdgeBackendReplyWithoutCRLFTimesOut(t *testing.T) {
	real := testutil.StartRedis(t)
	fake := edgeStartFake(t, "+OK\n", false, false)
	p := edgeStartMixedProxy(t, real, fake, "timeout: 300")
	kReal := edgeKeyFor(t, p, real.Addr, "r")
	kFake := edgeKeyFor(t, p, fake.addr, "f")
	conn := testutil.RawConn(t, p.addr)
	start := time.Now()
	r, err := conn.Do("GET", kFake)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(r), "-ERR ferry: server "+fake.addr+" unavailable: Connection timed out"), "%q", r)
	require.Less(t, time.Since(start), 2*time.Second)
	r, err = conn.Do("SET", kReal, "1")
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(r))
}

// A backend that sends a reply nobody asked for (an extra reply after the
// real one): ferry cannot match it to a request and drops the connection;
// later requests are not answered with the stray reply.
func TestEdgeBackendSendsExtraReply(t *testing.T) {
	real := testutil.StartRedis(t)
	fake := edgeStartFake(t, "$3\r\none\r\n$5\r\nstray\r\n", false, false)
	p := edgeStartMixedProxy(t, real, fake)
	kFake := edgeKeyFor(t, p, fake.addr, "f")
	conn := testutil.RawConn(t, p.addr)
	r, err := conn.Do("GET", kFake)
	require.NoError(t, err)
	// The first reply is either the real one or, if the stray bytes came in
	// the same read, an error for the broken connection; never "stray".
	require.NotEqual(t, "$5\r\nstray\r\n", string(r))
	fake.set("$3\r\ntwo\r\n", false)
	var last string
	require.Eventually(t, func() bool {
		r, err := conn.Do("GET", kFake)
		last = string(r)
		return err != nil || last == "$5\r\nstray\r\n" || last == "$3\r\ntwo\r\n"
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "$3\r\ntwo\r\n", last, "a stray reply was given to a later request, or the client broke")
}

// A memcache server that answers garbage: SERVER_ERROR for that request, a
// multi-get spanning it still returns the live server's hits.
func TestEdgeMemcacheBackendSendsGarbage(t *testing.T) {
	real := testutil.StartMemcached(t)
	fake := edgeStartFake(t, "xyz\r\n", false, true)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml := fmt.Sprintf("mc:\n  listen: %s\n  protocol: memcache\n  hash: murmur\n  servers:\n    - %s:1 mc0\n    - %s:1 mc1\n",
		listen, real.Addr, fake.addr)
	p := startProxyYAML(t, yaml, []*testutil.Proc{real})
	kReal := edgeKeyFor(t, p, real.Addr, "r")
	kFake := edgeKeyFor(t, p, fake.addr, "f")
	conn := testutil.RawConn(t, p.addr)
	conn.SendString("set " + kReal + " 0 0 4\r\nlive\r\n")
	line, err := conn.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "STORED", line)

	conn.SendString("get " + kFake + "\r\n")
	line, err = conn.ReadLine()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "SERVER_ERROR ferry: server "+fake.addr+" unavailable"), line)

	conn.SendString("get " + kFake + " " + kReal + "\r\n")
	for _, want := range []string{"VALUE " + kReal + " 0 4", "live", "END"} {
		line, err = conn.ReadLine()
		require.NoError(t, err)
		require.Equal(t, want, line)
	}
	conn.SendString("get " + kReal + "\r\n")
	for _, want := range []string{"VALUE " + kReal + " 0 4", "live", "END"} {
		line, err = conn.ReadLine()
		require.NoError(t, err)
		require.Equal(t, want, line)
	}
}
