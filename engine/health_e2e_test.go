package engine_test

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// logBuf collects a proxy's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// startProxyWith starts a proxy over servers with the given loops and a
// logger writing into the returned buffer.
func startProxyWith(t *testing.T, threads int, servers []*testutil.Proc, extra ...string) (*proxy, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	p := startProxyOpts(t, engine.Options{Threads: threads, Logger: logs.logger()}, poolYAML(listen, servers, extra...), servers)
	return p, logs
}

// serverStats is server i's counters in the first pool, merged.
func serverStats(p *proxy, i int) (engine.PoolSnapshot, engine.ServerSnapshot) {
	ps := p.srv.Stats().Pools[0]
	return ps, ps.Servers[i]
}

// A server killed and restarted while a GET goes out every 10 ms is used
// again promptly (twemproxy's first success comes at once): the prober
// finds it within ProbeInterval.
func TestRecoveryAfterRestartIsPrompt(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur", "timeout: 1000")
	k1 := keyOn(t, p, 1, "b")
	c := p.client(t)

	var restarted atomic.Int64 // unix nanos, once the server accepts again
	firstOK := make(chan time.Time, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			err := c.Get(ctx, k1).Err()
			if (err == nil || err == redis.Nil) && restarted.Load() != 0 {
				firstOK <- time.Now()
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()

	servers[1].Kill()
	time.Sleep(time.Second) // the outage the scenario asks for
	servers[1].Restart(t)
	at := time.Now()
	restarted.Store(at.UnixNano())
	select {
	case ok := <-firstOK:
		lag := ok.Sub(at)
		t.Logf("first success %v after the restart", lag)
		require.Less(t, lag, 150*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("no success within 5s of the restart")
	}
}

// A server that accepts connections and closes them at once (so every
// request on them fails) gets a bounded number of connection attempts,
// however many loops and clients send to it.
func TestDownServerConnectionAttemptsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepts atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	yaml := fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  timeout: 1000\n  servers:\n    - %s:1 dead\n", listen, ln.Addr())
	p := startProxyOpts(t, engine.Options{Threads: 4}, yaml, nil)

	conns := make([]*testutil.Raw, 8) // over the 4 loops
	for i := range conns {
		conns[i] = testutil.RawConn(t, p.addr)
	}
	const period = time.Second
	before := accepts.Load()
	deadline := time.Now().Add(period)
	sent := 0
	for time.Now().Before(deadline) {
		for _, c := range conns {
			r, err := c.Do("GET", "k")
			require.NoError(t, err)
			require.Contains(t, string(r), "-ERR ferry: server "+ln.Addr().String()+" unavailable: ")
			sent++
		}
		time.Sleep(10 * time.Millisecond)
	}
	n := accepts.Load() - before
	t.Logf("%d connection attempts in %v for %d requests", n, period, sent)
	// one probe per ProbeInterval, plus the first dial of each loop
	require.LessOrEqual(t, n, int64(period/(100*time.Millisecond))+4+4)
}

// Failures are counted per server, not per connection: six loops whose
// connections all break when the server dies count one failure, so
// server_failure_limit 4 is reached by the probes that follow, not at once;
// the server is ejected once and server_ejects says 1.
func TestFailuresCountedPerServerAcrossLoops(t *testing.T) {
	servers := startRedises(t, 2)
	p, logs := startProxyWith(t, 6, servers, "hash: murmur", "timeout: 5000", "auto_eject_hosts: true",
		"server_failure_limit: 4", "server_retry_timeout: 60000")
	k1 := keyOn(t, p, 1, "b")
	conns := make([]*testutil.Raw, 6) // one per loop (accepts go round robin)
	for i := range conns {
		conns[i] = testutil.RawConn(t, p.addr)
		r, err := conns[i].Do("GET", k1)
		require.NoError(t, err)
		require.Equal(t, "$5\r\nprobe\r\n", string(r))
	}
	servers[1].Stop()
	for _, c := range conns {
		c.SendCmd("GET", k1) // in flight on every loop's connection
	}
	require.Eventually(t, func() bool { _, s := serverStats(p, 1); return s.InQueue == 6 }, 5*time.Second, time.Millisecond)
	servers[1].Kill()
	for _, c := range conns {
		r, err := c.ReadReply()
		require.NoError(t, err)
		require.Contains(t, string(r), "-ERR ferry: server "+servers[1].Addr+" unavailable: ")
	}
	ps, s := serverStats(p, 1)
	require.False(t, s.Ejected, "six connections failing at once are one failure of the server")
	require.Zero(t, ps.ServerEjects)
	require.Eventually(t, func() bool { _, s := serverStats(p, 1); return s.Ejected }, 5*time.Second, 5*time.Millisecond)
	ps, _ = serverStats(p, 1)
	require.EqualValues(t, 1, ps.ServerEjects)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "server "+servers[1].Addr+" ejected from pool alpha after 4 consecutive failures")
	}, 2*time.Second, 5*time.Millisecond, logs.String())
	// its keys went to the other server
	r, err := conns[0].Do("SET", k1, "moved")
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(r))
	require.Equal(t, "moved", direct(t, servers[0]).Get(ctx, k1).Val())
}

// Connect refusals are counted (forward_error for every request not
// forwarded, server_err for the refused connects), logged at once with
// their cause, and the recovery is logged with the number of requests that
// failed meanwhile.
func TestBackendFailuresAreCountedAndLogged(t *testing.T) {
	servers := startRedises(t, 2)
	p, logs := startProxyWith(t, 2, servers, "hash: murmur", "timeout: 1000")
	k1 := keyOn(t, p, 1, "b")
	servers[1].Kill()
	// the proxy's idle connections to it are closed: not a failure yet
	require.Eventually(t, func() bool { _, s := serverStats(p, 1); return s.ServerConnections == 0 }, 5*time.Second, time.Millisecond)
	conn := testutil.RawConn(t, p.addr)
	for i := 0; i < 10; i++ {
		r, err := conn.Do("GET", k1)
		require.NoError(t, err)
		require.Equal(t, "-ERR ferry: server "+servers[1].Addr+" unavailable: Connection refused\r\n", string(r))
	}
	ps, s := serverStats(p, 1)
	require.EqualValues(t, 10, ps.ForwardError, "every request not forwarded")
	require.GreaterOrEqual(t, s.ServerErr, uint64(1), "the refused connect")
	require.GreaterOrEqual(t, s.ServerEOF, uint64(1), "the connection the kill closed")
	addr := servers[1].Addr
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "server "+addr+" down: connect: dial tcp "+addr+": connect: connection refused")
	}, 2*time.Second, 5*time.Millisecond, logs.String())
	require.Equal(t, 1, strings.Count(logs.String(), " down: "), "one line per outage, not per failure: %s", logs.String())

	servers[1].Restart(t)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "server "+addr+" up again after ")
	}, 2*time.Second, 5*time.Millisecond, logs.String())
	require.Contains(t, logs.String(), ", 10 requests failed")
	r, err := conn.Do("GET", k1)
	require.NoError(t, err)
	require.Equal(t, "$-1\r\n", string(r))
	_, s = serverStats(p, 1)
	require.Greater(t, s.ServerErr, uint64(1), "the prober's refused connects count too")
}

// rstFake accepts connections, reads a little of each and resets it
// (SO_LINGER 0); with stall it reads and never answers instead.
func rstFake(t *testing.T, stall bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if stall {
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
				go func() { _, _ = bufio.NewReader(c).ReadString(0) }()
				continue
			}
			go func() {
				buf := make([]byte, 64)
				_, _ = c.Read(buf)
				_ = c.(*net.TCPConn).SetLinger(0)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// The error reply names the OS error as strerror does, whatever the
// protocol: a refused port, a server that resets, one that times out.
func TestErrorRepliesCarryOSErrorText(t *testing.T) {
	refused := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	cases := []struct {
		name, addr, want string
	}{
		{"refused", refused, "Connection refused"},
		{"reset", rstFake(t, false), "Connection reset by peer"},
		{"timeout", rstFake(t, true), "Connection timed out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
			yaml := fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  timeout: 300\n  servers:\n    - %s:1 s\n", listen, tc.addr)
			p := startProxyYAML(t, yaml, nil)
			conn := testutil.RawConn(t, p.addr)
			want := "-ERR ferry: server " + tc.addr + " unavailable: " + tc.want + "\r\n"
			r, err := conn.Do("GET", "k")
			require.NoError(t, err)
			require.Equal(t, want, string(r), "the request that met the failure")
			r, err = conn.Do("GET", "k")
			require.NoError(t, err)
			require.Equal(t, want, string(r), "a request refused while the server is down")
		})
	}
	t.Run("memcache", func(t *testing.T) {
		listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
		yaml := fmt.Sprintf("alpha:\n  listen: %s\n  timeout: 300\n  servers:\n    - %s:1 s\n", listen, refused)
		p := startProxyYAML(t, yaml, nil)
		conn := testutil.RawConn(t, p.addr)
		conn.SendString("get k\r\n")
		line, err := conn.ReadLine()
		require.NoError(t, err)
		require.Equal(t, "SERVER_ERROR ferry: server "+refused+" unavailable: Connection refused", strings.TrimRight(line, "\r\n"))
	})
}

// slowLink relays connections to addr at rate bytes a second each way: a
// network far slower than loopback, on which a request of many megabytes
// takes longer to upload than the pool timeout.
func slowLink(t *testing.T, addr string, rate int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		defer func() { _ = dst.Close(); _ = src.Close() }()
		buf := make([]byte, 64<<10)
		start, moved := time.Now(), 0
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
				moved += n
				// the throttle itself, not a wait for an event
				time.Sleep(time.Until(start.Add(time.Duration(moved) * time.Second / time.Duration(rate))))
			}
			if err != nil {
				return
			}
			if n < len(buf) { // idle: the rate applies to bursts
				start, moved = time.Now(), 0
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Add(2)
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// The pool timeout measures the server's time, not the upload of a large
// request nor the arrival of a large reply: 5 values of 16 MiB + 1 KiB and
// 5 empty ones, set and read back through 2 servers with timeout 400 ms
// (nutcracker does it in about 0.2 s on loopback). The servers are behind
// links of 40 MB/s, so each direction takes about a second: on loopback the
// upload alone passes 400 ms only on a loaded machine.
func TestHugeMSetMGetWithinTimeout(t *testing.T) {
	servers := startRedises(t, 2)
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	yaml := fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  hash: murmur\n  timeout: 400\n"+
		"  max_request_bytes: 536870912\n  max_output_bytes: 536870912\n  servers:\n"+
		"    - %s:1 server0\n    - %s:1 server1\n", listen, slowLink(t, servers[0].Addr, 40<<20), slowLink(t, servers[1].Addr, 40<<20))
	p := startProxyYAML(t, yaml, servers)
	c := redis.NewClient(&redis.Options{Addr: p.addr, Protocol: 2, DisableIndentity: true,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	big := bytes.Repeat([]byte("v"), 16<<20+1<<10)
	var kv []any
	var keys []string
	for i := 0; i < 10; i++ {
		k := "huge" + strconv.Itoa(i)
		keys = append(keys, k)
		if i < 5 {
			kv = append(kv, k, big)
		} else {
			kv = append(kv, k, "")
		}
	}
	start := time.Now()
	require.NoError(t, c.MSet(ctx, kv...).Err())
	t.Logf("MSET of %d MiB: %v", 5*len(big)>>20, time.Since(start))
	start = time.Now()
	vals, err := c.MGet(ctx, keys...).Result()
	require.NoError(t, err)
	t.Logf("MGET of %d MiB: %v", 5*len(big)>>20, time.Since(start))
	require.Len(t, vals, 10)
	for i, v := range vals {
		s, _ := v.(string)
		if i < 5 {
			require.Equal(t, len(big), len(s), "key %d", i)
		} else {
			require.Equal(t, "", s, "key %d", i)
		}
	}
	_, s0 := serverStats(p, 0)
	_, s1 := serverStats(p, 1)
	require.Zero(t, s0.ServerTimedout+s1.ServerTimedout)
}

// An upload that stops moving (the server stopped reading) is timed out
// like a reply that does not come.
func TestStalledUploadTimesOut(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "timeout: 300", "max_request_bytes: 536870912", "max_output_bytes: 536870912")
	c := p.client(t)
	require.NoError(t, c.Ping(ctx).Err())
	servers[0].Stop()
	defer servers[0].Cont()
	start := time.Now()
	err := c.Set(ctx, "big", bytes.Repeat([]byte("v"), 64<<20), 0).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "ferry: server "+servers[0].Addr+" unavailable: Connection timed out")
	t.Logf("timed out after %v", time.Since(start))
	require.Less(t, time.Since(start), 3*time.Second)
}

// memcached over the binary protocol, killed and restarted: the error
// carries the OS error's text, and the prober's binary version probe finds
// the server again promptly.
func TestMemcacheBinaryDownAndBack(t *testing.T) {
	servers := startMemcacheds(t, 1)
	p := startMCProxy(t, "memcache_binary", servers, "timeout: 1000")
	conn, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	get := func() binPkt {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := conn.Write(encodeBin(0x00, 7, nil, []byte("k"), nil))
		require.NoError(t, err)
		return readBin(t, conn)
	}
	require.EqualValues(t, 1, get().status, "a miss")
	servers[0].Kill()
	pk := get()
	require.NotEqualValues(t, 1, pk.status)
	require.Equal(t, "ferry: server "+servers[0].Addr+" unavailable: Connection refused", string(pk.value))
	servers[0].Restart(t)
	at := time.Now()
	for get().status != 1 {
		require.Less(t, time.Since(at), 5*time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("first success %v after the restart", time.Since(at))
	require.Less(t, time.Since(at), 150*time.Millisecond)
}
