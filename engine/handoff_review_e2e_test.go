// Regression tests of the hand-off (scope "process"), from a review of it:
// each failed on the first version (replies matched to a relay's requests
// by order, not identity; requests a relay had failed still sent when the
// owner ran again; a cap on a relay's requests in flight below what its
// clients may send).
package engine_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// slowConnectServer listens with a full accept queue (backlog 0 and one
// connection never accepted): connects to it hang (SYNs dropped) until
// release() accepts, then it answers GET k with k.
func slowConnectServer(t *testing.T) (addr string, release func()) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	f := os.NewFile(uintptr(fd), "l")
	ln, err := net.FileListener(f)
	require.NoError(t, err)
	f.Close()
	t.Cleanup(func() { ln.Close() })
	addr = ln.Addr().String()
	dummy, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { dummy.Close() })
	release = func() {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go serveEcho(c, 0)
			}
		}()
	}
	return addr, release
}

func TestHandoffRepliesMatchedByIdentityWhenOwnerRefuses(t *testing.T) {
	addr, release := slowConnectServer(t)
	yaml := fmt.Sprintf("alpha:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 10000\n  server_connections: 1\n  server_connections_scope: process\n  servers:\n    - %s:1 s0\n", testutil.FreePort(t), addr)
	p := startProxyOpts(t, engine.Options{Threads: 2}, yaml, nil)
	owner := engine.ConnOwner(addr, 2)
	var conns []*testutil.Raw
	for range 24 {
		conns = append(conns, testutil.RawConn(t, p.addr))
	}
	loops := clientLoops(t, p, len(conns))
	var origin, own []*testutil.Raw
	for _, c := range conns {
		if loops[c.Conn.LocalAddr().String()] == owner {
			own = append(own, c)
		} else {
			origin = append(origin, c)
		}
	}
	require.GreaterOrEqual(t, len(origin), 2)
	require.GreaterOrEqual(t, len(own), 9, "enough of the owner's own clients to fill its pending")
	send := func(c *testutil.Raw, prefix string, n int) {
		var b []byte
		for i := range n {
			b = append(b, testutil.Command("GET", fmt.Sprintf("%s:%d", prefix, i))...)
		}
		_, err := c.Write(b)
		require.NoError(t, err)
	}
	send(origin[0], "a", 1000)         // through the relay: waits in the owner's pending
	time.Sleep(200 * time.Millisecond) // (nothing to wait on: pending is not in the stats)
	// The owner's own clients fill its pending (maxPending per loop; each
	// client has at most max_inflight, 1024, in flight).
	for i, c := range own {
		send(c, fmt.Sprintf("o%d", i), 1024)
	}
	time.Sleep(200 * time.Millisecond)
	send(origin[1], "c", 10) // refused at once by the owner, ahead of the 1000
	time.Sleep(200 * time.Millisecond)
	release()
	// Every reply is its own request's value, or an error: never another
	// request's.
	var bad []string
	check := func(c *testutil.Raw, prefix string, n int) {
		for i := range n {
			got, err := c.ReadReply()
			require.NoError(t, err)
			k := fmt.Sprintf("%s:%d", prefix, i)
			if want := fmt.Sprintf("$%d\r\n%s\r\n", len(k), k); string(got) != want && got[0] != '-' && len(bad) < 10 {
				bad = append(bad, fmt.Sprintf("%s got %q", k, got))
			}
		}
	}
	check(origin[1], "c", 10)
	check(origin[0], "a", 1000)
	for i, c := range own {
		check(c, fmt.Sprintf("o%d", i), 1024)
	}
	require.Empty(t, bad, "replies given to the wrong requests")
}

func TestHandoffNoSpuriousErrorsUnderPipelinedLoad(t *testing.T) {
	servers := startRedises(t, 1)
	yaml := fmt.Sprintf("alpha:\n  listen: 127.0.0.1:%d\n  redis: true\n  server_connections: 1\n  server_connections_scope: process\n  servers:\n    - %s:1 s0\n", testutil.FreePort(t), servers[0].Addr)
	p := startProxyOpts(t, engine.Options{Threads: 2}, yaml, servers)
	owner := engine.ConnOwner(servers[0].Addr, 2)
	var conns []*testutil.Raw
	for range 12 {
		conns = append(conns, testutil.RawConn(t, p.addr))
	}
	loops := clientLoops(t, p, len(conns))
	var origin []*testutil.Raw
	for _, c := range conns {
		if loops[c.Conn.LocalAddr().String()] != owner {
			origin = append(origin, c)
		}
	}
	var b []byte
	for i := range 1000 {
		b = append(b, testutil.Command("GET", fmt.Sprintf("k%d", i))...)
	}
	for _, c := range origin {
		_, err := c.Write(b)
		require.NoError(t, err)
	}
	errs := 0
	var first string
	for _, c := range origin {
		for range 1000 {
			got, err := c.ReadReply()
			require.NoError(t, err)
			if got[0] == '-' {
				errs++
				if first == "" {
					first = string(got)
				}
			}
		}
	}
	t.Logf("%d origin clients, %d errors, first %q", len(origin), errs, first)
	require.Zero(t, errs)
}

// echoServer answers GET k with k, GET slow* after 2 s; it returns its
// address once ConnOwner(addr, 2) == 0.
func echoServerOwnedBy0(t *testing.T) string {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		if engine.ConnOwner(ln.Addr().String(), 2) != 0 {
			ln.Close()
			continue
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go serveEcho(c, 2*time.Second)
			}
		}()
		return ln.Addr().String()
	}
}

func TestHandoffReloadMovesOwnerConnectionsMidFlight(t *testing.T) {
	addr := echoServerOwnedBy0(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml := func(n int) string {
		return fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  timeout: 10000\n  server_connections: %d\n  server_connections_scope: process\n  servers:\n    - %s:1 s0\n", listen, n, addr)
	}
	p := startProxyOpts(t, engine.Options{Threads: 2}, yaml(1), nil)
	var conns []*testutil.Raw
	for range 4 {
		conns = append(conns, testutil.RawConn(t, p.addr))
	}
	loops := clientLoops(t, p, len(conns))
	var relay []*testutil.Raw
	for _, c := range conns {
		if loops[c.Conn.LocalAddr().String()] == 1 {
			relay = append(relay, c)
		}
	}
	require.GreaterOrEqual(t, len(relay), 2)
	a, b := relay[0], relay[1]
	got, err := a.Do("GET", "warm")
	require.NoError(t, err)
	require.Equal(t, "$4\r\nwarm\r\n", string(got))
	a.SendCmd("GET", "slow") // on the owner's connection 0, answered in 2 s
	time.Sleep(100 * time.Millisecond)
	go p.srv.StallLoop(0, 1500*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // the owner's ticks queue up behind the stall
	var buf []byte
	for i := range 5 {
		buf = append(buf, testutil.Command("GET", fmt.Sprintf("b:%d", i))...)
	}
	_, err = b.Write(buf) // loop 1 still routes by the old view: through its relay
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	cfg, err := config.Parse("r.yml", []byte(yaml(3)))
	require.NoError(t, err)
	go func() { _, _ = p.srv.Reload(cfg) }()
	var bad []string
	got, err = a.ReadReply()
	require.NoError(t, err)
	if string(got) != "$4\r\nslow\r\n" {
		bad = append(bad, fmt.Sprintf("slow got %q", got))
	}
	for i := range 5 {
		got, err := b.ReadReply()
		require.NoError(t, err)
		if want := fmt.Sprintf("$3\r\nb:%d\r\n", i); string(got) != want {
			bad = append(bad, fmt.Sprintf("b:%d got %q", i, got))
		}
	}
	require.Empty(t, bad)
}

func TestHandoffFailedRequestIsNotAppliedLater(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxyOpts(t, engine.Options{Threads: 2}, poolYAML(fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), servers, "timeout: 300", "server_connections: 1", "server_connections_scope: process"), servers)
	owner := engine.ConnOwner(servers[0].Addr, 2)
	var conns []*testutil.Raw
	for range 4 {
		conns = append(conns, testutil.RawConn(t, p.addr))
	}
	loops := clientLoops(t, p, len(conns))
	var c *testutil.Raw
	for _, x := range conns {
		if loops[x.Conn.LocalAddr().String()] != owner {
			c = x
		}
	}
	got, err := c.Do("SET", "n", "0")
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(got))
	p.srv.StallLoop(owner, 1500*time.Millisecond)
	got, err = c.Do("INCR", "n")
	require.NoError(t, err)
	t.Logf("INCR reply: %q", got)
	require.Equal(t, byte('-'), got[0])
	// Once the owner runs again (a request through it is answered), the
	// INCR has not been sent.
	require.Eventually(t, func() bool {
		got, err = c.Do("GET", "n")
		return err == nil && got[0] != '-'
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "$1\r\n0\r\n", string(got))
	v, err := testutil.RedisDo(servers[0].Addr, "GET", "n")
	require.NoError(t, err)
	require.Equal(t, "$1\r\n0\r\n", string(v), "the INCR the client was told failed was applied")
}

// clientLoops waits until the proxy knows n clients and returns the loop
// of each, by its address.
func clientLoops(t *testing.T, p *proxy, n int) map[string]int {
	t.Helper()
	var loops map[string]int
	require.Eventually(t, func() bool { loops = p.srv.ClientLoops(); return len(loops) >= n }, 5*time.Second, 5*time.Millisecond)
	return loops
}

// serveEcho is a fake redis answering GET k with k (after slow, when k
// starts with "slow") and anything else with +OK; replies to a pipeline
// leave in one write.
func serveEcho(c net.Conn, slow time.Duration) {
	defer c.Close()
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	for {
		args, err := readCommand(br)
		if err != nil {
			return
		}
		if len(args) == 2 && strings.HasPrefix(args[1], "slow") {
			time.Sleep(slow)
		}
		if len(args) == 2 {
			fmt.Fprintf(bw, "$%d\r\n%s\r\n", len(args[1]), args[1])
		} else {
			bw.WriteString("+OK\r\n")
		}
		if br.Buffered() == 0 {
			bw.Flush()
		}
	}
}
