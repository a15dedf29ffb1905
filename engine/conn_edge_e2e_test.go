package engine_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// edgeKeyFor returns a key that the proxy routes to the server with dial
// address addr (asked of the pool's own selector, so no request is sent).
func edgeKeyFor(t *testing.T, p *proxy, addr, prefix string) string {
	t.Helper()
	pool := p.srv.Pools()[0]
	want := -1
	for i, s := range pool.Servers {
		if s.Addr == addr {
			want = i
		}
	}
	require.GreaterOrEqual(t, want, 0, "no server %s in the pool", addr)
	for i := 0; i < 10000; i++ {
		k := prefix + strconv.Itoa(i)
		if pool.Pick([]byte(k)) == want {
			return k
		}
	}
	t.Fatalf("no key routed to %s", addr)
	return ""
}

// edgeBackendClients counts the connections a redis-server has, besides the
// one asking (a persistent raw connection, so no closed probe lingers).
func edgeBackendClients(t *testing.T, admin *testutil.Raw) int {
	t.Helper()
	r, err := admin.Do("CLIENT", "LIST")
	require.NoError(t, err)
	body := string(r)
	i := strings.Index(body, "\r\n")
	require.GreaterOrEqual(t, i, 0, body)
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(body[i+2:]), "\n") {
		if strings.HasPrefix(line, "id=") {
			n++
		}
	}
	return n - 1
}

// edgeStartProxyUnix is startProxyYAML for a pool listening on a unix
// socket (startProxyYAML waits for a TCP port).
func edgeStartProxyUnix(t *testing.T, yaml string) *proxy {
	t.Helper()
	cfg, err := config.Parse("test.yml", []byte(yaml))
	applyTestScope(cfg)
	require.NoError(t, err, yaml)
	srv, err := engine.New(cfg, engine.Options{Threads: threads(t), Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	require.NoError(t, srv.Err())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Stop(ctx))
	})
	addr := cfg.Pools[0].Listen
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("unix", addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}, 5*time.Second, 5*time.Millisecond)
	return &proxy{srv: srv, addr: addr, cfg: cfg}
}

// edgeShortDir is a temp dir with a short path (unix socket paths are
// limited to 107 bytes; t.TempDir can be longer).
func edgeShortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fe")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func edgeUnixDo(t *testing.T, path string, args ...string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write(testutil.Command(args...))
	require.NoError(t, err)
	r, err := testutil.ReadReply(bufio.NewReader(c))
	require.NoError(t, err)
	return string(r)
}

// --- client_idle_timeout ---

// An idle client is closed once client_idle_timeout has passed, and not
// much before; a client that keeps sending is never closed.
func TestEdgeIdleTimeoutClosesIdleClient(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "client_idle_timeout: 300")

	idle := testutil.RawConn(t, p.addr)
	start := time.Now()
	r, err := idle.Do("PING") // proves it is open; the idle clock starts here
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(r))
	idle.ExpectClosed(3 * time.Second)
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "closed before the idle timeout")

	// a client that never goes quiet for 300 ms stays open past it
	active := testutil.RawConn(t, p.addr)
	start = time.Now()
	for time.Since(start) < 900*time.Millisecond {
		r, err := active.Do("SET", "a", "1")
		require.NoError(t, err)
		require.Equal(t, "+OK\r\n", string(r))
		_ = active.Conn.SetReadDeadline(time.Now().Add(60 * time.Millisecond))
		_, err = active.R.Peek(1) // paces the loop: nothing is owed, so this times out
		require.True(t, isTimeout(err), "active client got %v", err)
	}
	r, err = active.Do("GET", "a")
	require.NoError(t, err)
	require.Equal(t, "$1\r\n1\r\n", string(r))
}

// A client whose request waits on a stalled backend (no pool timeout) is
// not idle: it is not closed while waiting, and gets its reply once the
// backend resumes.
func TestEdgeIdleTimeoutSparesClientWaitingOnBackend(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "client_idle_timeout: 200")
	c := p.client(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	conn := testutil.RawConn(t, p.addr)
	servers[0].Stop()
	stopped := true
	defer func() {
		if stopped {
			servers[0].Cont()
		}
	}()
	conn.SendCmd("GET", "k")
	// four idle timeouts pass with the request in flight: still open
	_ = conn.Conn.SetReadDeadline(time.Now().Add(800 * time.Millisecond))
	_, err := conn.R.Peek(1)
	require.True(t, isTimeout(err), "a client waiting on its reply was closed: %v", err)

	servers[0].Cont()
	stopped = false
	r, err := conn.ReadReply()
	require.NoError(t, err)
	require.Equal(t, "$1\r\nv\r\n", string(r))
}

// After a long wait on a slow backend, the idle clock restarts when the
// reply goes out: the client has not been idle, it was waiting on ferry.
// A client that answers its reply with a new command a little later (here
// 100 ms, under half the 300 ms idle timeout) must find its connection
// open.
func TestEdgeIdleTimeoutRestartsAfterSlowReply(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "client_idle_timeout: 300")
	c := p.client(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	conn := testutil.RawConn(t, p.addr)
	servers[0].Stop()
	conn.SendCmd("GET", "k")
	_ = conn.Conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	_, err := conn.R.Peek(1)
	require.True(t, isTimeout(err), "closed while waiting: %v", err)
	servers[0].Cont()
	r, err := conn.ReadReply()
	require.NoError(t, err)
	require.Equal(t, "$1\r\nv\r\n", string(r))
	replied := time.Now()

	// think for 100 ms, then send the next command
	_ = conn.Conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = conn.R.Peek(1)
	require.True(t, isTimeout(err), "closed %v after its slow reply: %v", time.Since(replied).Round(time.Millisecond), err)
	r, err = conn.Do("PING")
	require.NoError(t, err, "the idle clock restarts when a reply is written")
	require.Equal(t, "+PONG\r\n", string(r))
}

// --- preconnect ---

func TestEdgePreconnectOpensBackendConnectionsAtStart(t *testing.T) {
	servers := startRedises(t, 2)
	admins := []*testutil.Raw{testutil.RawConn(t, servers[0].Addr), testutil.RawConn(t, servers[1].Addr)}
	startProxy(t, servers, "preconnect: true")
	// one connection per loop (threads = 2) per server, before any request
	// (one per server in scope process)
	for i, a := range admins {
		require.Eventually(t, func() bool { return edgeBackendClients(t, a) == connsPerServer(t, 1) },
			3*time.Second, 10*time.Millisecond, "server %d", i)
	}
}

func TestEdgePreconnectWithServerConnections(t *testing.T) {
	servers := startRedises(t, 2)
	admins := []*testutil.Raw{testutil.RawConn(t, servers[0].Addr), testutil.RawConn(t, servers[1].Addr)}
	p := startProxy(t, servers, "preconnect: true", "server_connections: 2", "hash: murmur")
	// server_connections is per event loop: threads x 2 per server (2 in
	// scope process)
	for i, a := range admins {
		require.Eventually(t, func() bool { return edgeBackendClients(t, a) == connsPerServer(t, 2) },
			3*time.Second, 10*time.Millisecond, "server %d", i)
	}

	// requests round-robin over a loop's two connections; a pipelined
	// client still gets its replies in request order
	c := p.client(t)
	const n = 2000
	pipe := c.Pipeline()
	for i := 0; i < n; i++ {
		pipe.Set(ctx, "sc"+strconv.Itoa(i), i, 0)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	conn := testutil.RawConn(t, p.addr)
	var buf []byte
	for i := 0; i < n; i++ {
		buf = append(buf, testutil.Command("GET", "sc"+strconv.Itoa(i))...)
		buf = append(buf, testutil.Command("STRLEN", "sc"+strconv.Itoa(i))...)
	}
	conn.Send(buf)
	for i := 0; i < n; i++ {
		v := strconv.Itoa(i)
		r, err := conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n", string(r), "reply %d", 2*i)
		r, err = conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, ":"+strconv.Itoa(len(v))+"\r\n", string(r), "reply %d", 2*i+1)
	}
	// and both connections of each loop really carried requests: still
	// threads x 2 connections per server, none more
	for i, a := range admins {
		require.Equal(t, connsPerServer(t, 2), edgeBackendClients(t, a), "server %d", i)
	}
}

func TestEdgeNoPreconnectConnectsOnFirstRequest(t *testing.T) {
	servers := startRedises(t, 1)
	admin := testutil.RawConn(t, servers[0].Addr)
	p := startProxy(t, servers)
	// a client that only talks to ferry itself opens nothing either
	r, err := testutil.RedisDo(p.addr, "PING")
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(r))
	require.Never(t, func() bool { return edgeBackendClients(t, admin) != 0 }, 300*time.Millisecond, 20*time.Millisecond)

	conn := testutil.RawConn(t, p.addr)
	r, err = conn.Do("SET", "x", "1")
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(r))
	// only the loop serving that client dialled
	require.Equal(t, 1, edgeBackendClients(t, admin))
}

// --- unix sockets ---

func TestEdgeUnixSocketListen(t *testing.T) {
	for _, perm := range []string{"", "0666", "0600"} {
		t.Run("perm="+perm, func(t *testing.T) {
			servers := startRedises(t, 2)
			path := filepath.Join(edgeShortDir(t), "f.sock")
			listen := path
			if perm != "" {
				listen += " " + perm
			}
			var b strings.Builder
			fmt.Fprintf(&b, "alpha:\n  listen: %s\n  redis: true\n  hash: murmur\n  servers:\n", listen)
			for i, s := range servers {
				fmt.Fprintf(&b, "    - %s:1 server%d\n", s.Addr, i)
			}
			p := edgeStartProxyUnix(t, b.String())
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.True(t, fi.Mode()&os.ModeSocket != 0, "%v", fi.Mode())
			if perm != "" {
				want, _ := strconv.ParseUint(perm, 8, 32)
				require.Equal(t, os.FileMode(want), fi.Mode().Perm())
			}
			require.Equal(t, "+OK\r\n", edgeUnixDo(t, p.addr, "SET", "u", "1"))
			require.Equal(t, "$1\r\n1\r\n", edgeUnixDo(t, p.addr, "GET", "u"))
			require.Equal(t, "*2\r\n$1\r\n1\r\n$-1\r\n", edgeUnixDo(t, p.addr, "MGET", "u", "nope"))
		})
	}
}

// A stale socket file (from a crashed run) does not stop ferry from starting.
func TestEdgeUnixSocketListenReplacesStaleFile(t *testing.T) {
	servers := startRedises(t, 1)
	path := filepath.Join(edgeShortDir(t), "s.sock")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, ln.Close()) // leaves the file behind
	_, err = os.Stat(path)
	require.NoError(t, err)
	yaml := fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n    - %s:1 server0\n", path, servers[0].Addr)
	p := edgeStartProxyUnix(t, yaml)
	require.Equal(t, "+PONG\r\n", edgeUnixDo(t, p.addr, "PING"))
}

// Servers reached over unix sockets, mixed with a TCP one.
func TestEdgeUnixSocketServers(t *testing.T) {
	dir := edgeShortDir(t)
	s0 := filepath.Join(dir, "r0.sock")
	s1 := filepath.Join(dir, "r1.sock")
	r0 := testutil.StartRedis(t, "--unixsocket", s0, "--unixsocketperm", "700")
	r1 := testutil.StartRedis(t, "--unixsocket", s1, "--unixsocketperm", "700")
	r2 := testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml := fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  hash: murmur\n  servers:\n"+
		"    - %s:1 server0\n    - %s:1 server1\n    - %s:1 server2\n", listen, s0, s1, r2.Addr)
	p := startProxyYAML(t, yaml, []*testutil.Proc{r0, r1, r2})
	c := p.client(t)
	var pairs []any
	var keys []string
	for i := 0; i < 60; i++ {
		k := "ux" + strconv.Itoa(i)
		keys = append(keys, k)
		pairs = append(pairs, k, k)
	}
	require.NoError(t, c.MSet(ctx, pairs...).Err())
	vals, err := c.MGet(ctx, keys...).Result()
	require.NoError(t, err)
	for i, v := range vals {
		require.Equal(t, keys[i], v)
	}
	total := int64(0)
	for i, s := range []*testutil.Proc{r0, r1, r2} {
		n := direct(t, s).DBSize(ctx).Val()
		require.Greater(t, n, int64(0), "server %d got no key", i)
		total += n
	}
	require.EqualValues(t, 60, total)

	// a unix server that dies: its keys fail with its path in the error,
	// the others still answer
	k0 := edgeKeyFor(t, p, s0, "d")
	k2 := edgeKeyFor(t, p, r2.Addr, "d")
	r0.Kill()
	err = c.Get(ctx, k0).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "ferry: server "+s0+" unavailable")
	require.False(t, errors.Is(err, context.DeadlineExceeded))
	require.NoError(t, c.Set(ctx, k2, "ok", 0).Err())
	require.Equal(t, "ok", c.Get(ctx, k2).Val())
}
