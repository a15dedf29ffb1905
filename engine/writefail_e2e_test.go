package engine_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A backend connection whose first write fails (the server reset it right
// after accepting) while requests for over 64 KiB are waiting on the dial:
// the write fails inside the loop that sends them, closing the connection
// there. Every waiting request must get an error reply, in order, and the
// next connection must answer the next requests with their own replies
// (no request left behind on the dead connection's queue, which hung the
// client and shifted later replies onto the wrong requests).
func TestBackendWriteFailsWhileSendingQueuedRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		first := true
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if first { // reset: the proxy's first write fails
				first = false
				_ = c.(*net.TCPConn).SetLinger(0)
				_ = c.Close()
				continue
			}
			go func() { // answer GET k with k
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					r, err := testutil.ReadReply(br)
					if err != nil {
						return
					}
					parts := strings.Split(string(r), "\r\n") // *2 $3 GET $n key
					if len(parts) < 5 {                       // ferry's health probe: PING
						if _, err := c.Write([]byte("+PONG\r\n")); err != nil {
							return
						}
						continue
					}
					key := parts[4]
					if _, err := fmt.Fprintf(c, "$%d\r\n%s\r\n", len(key), key); err != nil {
						return
					}
				}
			}()
		}
	}()

	yaml := fmt.Sprintf("fake:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n  servers:\n    - %s:1 f0\n",
		testutil.FreePort(t), ln.Addr().String())
	p := startProxyYAML(t, yaml, nil)

	c := testutil.RawConn(t, p.addr)
	_ = c.Conn.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 700
	var batch []byte
	for i := range n {
		batch = append(batch, testutil.Command("GET", fmt.Sprintf("%03d%s", i, strings.Repeat("k", 100)))...)
	}
	require.Greater(t, len(batch), 64<<10)
	c.Send(batch)
	for i := range n {
		r, err := c.ReadReply()
		require.NoError(t, err, "reply %d", i)
		require.True(t, strings.HasPrefix(string(r), "-"), "reply %d: %q", i, r)
	}

	// The next requests go over a new connection and get their own replies.
	for _, cl := range []*testutil.Raw{c, testutil.RawConn(t, p.addr)} {
		_ = cl.Conn.SetDeadline(time.Now().Add(10 * time.Second))
		for i := range 3 {
			key := fmt.Sprintf("after%d", i)
			var r []byte
			for range 50 { // the server may still be down until its next probe
				r, err = cl.Do("GET", key)
				require.NoError(t, err)
				if !strings.HasPrefix(string(r), "-") {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			require.Equal(t, fmt.Sprintf("$%d\r\n%s\r\n", len(key), key), string(r))
		}
	}
}

// A client that pipelines far more local replies than it reads and then
// hangs up is closed by the proxy's own write (EPIPE) in the middle of
// parsing its input: the rest of that input must not be executed for a
// connection that is gone (it was: all 10 INCRs reached redis).
func TestClientClosedByOwnWriteStopsParsing(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers)
	d := direct(t, servers[0])

	c, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	_, err = c.Write([]byte(strings.Repeat("INFO\r\n", 1500) + strings.Repeat("INCR ctr\r\n", 10)))
	require.NoError(t, err)
	require.NoError(t, c.Close()) // unread replies: the proxy's next write fails

	require.Eventually(t, func() bool { return p.srv.Stats().CurrConnections == 0 }, 5*time.Second, 2*time.Millisecond)
	require.Never(t, func() bool { n, _ := d.Get(ctx, "ctr").Int(); return n > 0 }, 300*time.Millisecond, 10*time.Millisecond,
		"commands after the failed write were executed")
}

// A stalled memcached fed noreply sets: nothing waits for a reply, so the
// timeout never fires, and before the backlog cap the unsent requests piled
// up in the proxy without bound (400 MB in 1.6 s). Past max_output_bytes of
// unsent requests the connection is failed, and the heap stays bounded.
func TestStalledServerNoreplyBacklogIsBounded(t *testing.T) {
	servers := startMemcacheds(t, 1)
	listen := "127.0.0.1:" + fmt.Sprint(testutil.FreePort(t))
	p := startProxyYAML(t, mcPoolYAML(listen, "memcache", servers, "timeout: 300", "max_output_bytes: 8388608"), servers)
	c := testutil.RawConn(t, p.addr)
	_ = c.Conn.SetDeadline(time.Now().Add(30 * time.Second))
	c.SendString("version\r\n") // connected before the stall
	l, err := c.ReadLine()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(l, "VERSION"), "%q", l)

	servers[0].Stop()
	t.Cleanup(servers[0].Cont)
	val := strings.Repeat("v", 60000)
	one := []byte(fmt.Sprintf("set k 0 0 %d noreply\r\n%s\r\n", len(val), val))
	batch := bytes.Repeat(one, 100) // 6 MB
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 40 { // 240 MB
		c.Send(batch)
	}
	c.SendString("version\r\n") // answered by the proxy after all of it was read
	l, err = c.ReadLine()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(l, "VERSION"), "%q", l)

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %d MB", grown>>20)
	require.Less(t, grown, int64(100<<20), "unsent requests to a stalled server are bounded")
	require.Positive(t, p.srv.Stats().Pools[0].Servers[0].ServerErr, "the stalled server's connection was failed")
}
