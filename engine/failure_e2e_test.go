package engine_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// keyOn returns a key that the proxy stores on servers[want], found by
// writing probe keys through the proxy and looking where they landed.
func keyOn(t *testing.T, p *proxy, want int, prefix string) string {
	t.Helper()
	c := p.client(t)
	d := direct(t, p.servers[want])
	for i := 0; i < 1000; i++ {
		k := prefix + strconv.Itoa(i)
		require.NoError(t, c.Set(ctx, k, "probe", 0).Err())
		if d.Exists(ctx, k).Val() == 1 {
			return k
		}
	}
	t.Fatalf("no key of 1000 landed on server %d", want)
	return ""
}

func TestBackendKilledAndRestarted(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur", "timeout: 1000")
	k0, k1 := keyOn(t, p, 0, "a"), keyOn(t, p, 1, "b")
	c := p.client(t)

	servers[1].Kill()
	err := c.Get(ctx, k1).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "ferry: server "+servers[1].Addr+" unavailable")
	// the other server's keys are unaffected, on the same connection
	require.Equal(t, "probe", c.Get(ctx, k0).Val())

	servers[1].Restart(t)
	require.Eventually(t, func() bool { return c.Set(ctx, k1, "back", 0).Err() == nil }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "back", c.Get(ctx, k1).Val())
	require.Equal(t, "back", direct(t, servers[1]).Get(ctx, k1).Val())
}

func TestStalledBackendHitsTimeout(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur", "timeout: 300")
	k0, k1 := keyOn(t, p, 0, "a"), keyOn(t, p, 1, "b")
	c := p.client(t)

	servers[1].Stop()
	start := time.Now()
	err := c.Get(ctx, k1).Err()
	elapsed := time.Since(start)
	require.Error(t, err)
	require.Contains(t, err.Error(), "timed out")
	require.Less(t, elapsed, 2*time.Second, "the pool timeout bounds the wait")
	require.GreaterOrEqual(t, elapsed, 250*time.Millisecond)

	// a pipeline mixing both servers: the live one's replies are right, the
	// stalled one's fail, and the order holds
	pipe := c.Pipeline()
	g0 := pipe.Get(ctx, k0)
	g1 := pipe.Get(ctx, k1)
	g2 := pipe.Get(ctx, k0)
	_, _ = pipe.Exec(ctx)
	require.Equal(t, "probe", g0.Val())
	require.Error(t, g1.Err())
	require.Equal(t, "probe", g2.Val())

	servers[1].Cont()
	require.Eventually(t, func() bool { return c.Get(ctx, k1).Val() == "probe" }, 10*time.Second, 20*time.Millisecond)
}

func TestAutoEjectMovesKeysAndRetries(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur", "timeout: 500", "auto_eject_hosts: true",
		"server_failure_limit: 1", "server_retry_timeout: 1500")
	k1 := keyOn(t, p, 1, "b")
	c := p.client(t)

	servers[1].Kill()
	// The first failures eject the server; then its keys go to server 0.
	require.Eventually(t, func() bool { return c.Set(ctx, k1, "moved", 0).Err() == nil }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "moved", direct(t, servers[0]).Get(ctx, k1).Val())

	servers[1].Restart(t)
	// after server_retry_timeout it is back in the ring and owns k1 again
	// (the restarted server is empty)
	require.Eventually(t, func() bool {
		err := c.Get(ctx, k1).Err()
		return err == redis.Nil
	}, 10*time.Second, 50*time.Millisecond)
}

func TestRedisAuthAndDB(t *testing.T) {
	servers := startRedises(t, 2, "--requirepass", "s3cret")
	p := startProxy(t, servers, "hash: murmur", "redis_auth: s3cret", "redis_db: 3")
	conn := testutil.RawConn(t, p.addr)
	r, err := conn.Do("GET", "x")
	require.NoError(t, err)
	require.Equal(t, "-NOAUTH Authentication required.\r\n", string(r))
	r, _ = conn.Do("AUTH", "wrong")
	require.True(t, strings.HasPrefix(string(r), "-WRONGPASS"), string(r))
	r, _ = conn.Do("AUTH", "s3cret")
	require.Equal(t, "+OK\r\n", string(r))
	r, _ = conn.Do("SET", "x", "1")
	require.Equal(t, "+OK\r\n", string(r))
	r, _ = conn.Do("SELECT", "3")
	require.Equal(t, "+OK\r\n", string(r))

	c := redis.NewClient(&redis.Options{Addr: p.addr, Password: "s3cret"})
	defer c.Close()
	require.Equal(t, "1", c.Get(ctx, "x").Val())
	// the key is in db 3 of one backend
	found := 0
	for _, s := range servers {
		d := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "s3cret", DB: 3, Protocol: 2})
		found += int(d.Exists(ctx, "x").Val())
		d0 := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "s3cret", DB: 0, Protocol: 2})
		require.EqualValues(t, 0, d0.Exists(ctx, "x").Val())
		d.Close()
		d0.Close()
	}
	require.Equal(t, 1, found)
}

func TestClientConnectionsLimit(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "client_connections: 2")
	// the readiness probe's connection must be gone before counting
	// (accepted, then closed: accepts are asynchronous, so wait for both)
	require.Eventually(t, func() bool {
		st := p.srv.Stats()
		return st.TotalConnections >= 1 && st.CurrConnections == 0
	}, 5*time.Second, 5*time.Millisecond)
	a, b := testutil.RawConn(t, p.addr), testutil.RawConn(t, p.addr)
	r, err := a.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(r))
	r, err = b.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(r))
	c := testutil.RawConn(t, p.addr)
	c.ExpectClosed(2 * time.Second)
	a.Close()
	require.Eventually(t, func() bool {
		r, err := testutil.RedisDo(p.addr, "PING")
		return err == nil && string(r) == "+PONG\r\n"
	}, 5*time.Second, 10*time.Millisecond)
}

// A client that pipelines far faster than a (stalled) backend answers is
// throttled at max_inflight and cut off past its input cap, instead of
// making the proxy buffer without bound; other clients are unaffected.
func TestPipelineFloodIsBounded(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur", "max_inflight: 64", "max_request_bytes: 65536")
	k0, k1 := keyOn(t, p, 0, "a"), keyOn(t, p, 1, "b")
	servers[1].Stop()
	defer servers[1].Cont()

	flood := testutil.RawConn(t, p.addr)
	cmd := testutil.Command("GET", k1)
	chunk := bytes.Repeat(cmd, 1000)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for i := 0; i < 2000; i++ { // up to ~40 MB, far past the cap
			if _, err := flood.Write(chunk); err != nil {
				return
			}
		}
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the flooding client was never cut off")
	}
	flood.ExpectClosed(10 * time.Second) // by ferry, not merely done writing
	// the well-behaved client still gets answers from the live server
	c := p.client(t)
	require.Equal(t, "probe", c.Get(ctx, k0).Val())
}

// A client that never reads its replies is closed once its unsent output
// passes max_output_bytes.
func TestSlowReaderIsBounded(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "max_output_bytes: 1048576")
	c := p.client(t)
	require.NoError(t, c.Set(ctx, "big", bytes.Repeat([]byte("x"), 256<<10), 0).Err())
	connected := func() int {
		info := c.Info(ctx).Val()
		i := strings.Index(info, "connected_clients:")
		require.GreaterOrEqual(t, i, 0, info)
		n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(info[i+len("connected_clients:"):], "\r\n", 2)[0]))
		require.NoError(t, err)
		return n
	}
	before := connected()
	slow := testutil.RawConn(t, p.addr)
	_ = slow.Conn.(interface{ SetReadBuffer(int) error }).SetReadBuffer(4096)
	require.Eventually(t, func() bool { return connected() == before+1 }, 5*time.Second, 10*time.Millisecond)
	cmd := bytes.Repeat(testutil.Command("GET", "big"), 400) // 100 MiB of replies
	_, _ = slow.Write(cmd)
	// nothing is read; ferry must drop the connection rather than buffer it all
	require.Eventually(t, func() bool { return connected() == before }, 20*time.Second, 20*time.Millisecond)
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}

// Over --max-buffered-bytes (all clients together), ferry stops parsing and
// closes the client holding the most, even though no per-client cap is hit;
// a small client goes on being served once the total is back under the cap.
func TestGlobalBufferCap(t *testing.T) {
	servers := startRedises(t, 2)
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	p := startProxyOpts(t, engine.Options{MaxBufferedBytes: 4 << 20},
		poolYAML(listen, servers, "hash: murmur", "max_inflight: 64", "max_request_bytes: 67108864"), servers)
	k0, k1 := keyOn(t, p, 0, "a"), keyOn(t, p, 1, "b")
	servers[1].Stop()
	defer servers[1].Cont()

	flood := testutil.RawConn(t, p.addr)
	chunk := bytes.Repeat(testutil.Command("GET", k1), 1000)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for i := 0; i < 1000; i++ { // up to ~20 MB: under its own 65 MiB cap, over the global 4 MiB
			if _, err := flood.Write(chunk); err != nil {
				return
			}
		}
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the client holding the most was never closed")
	}
	flood.ExpectClosed(10 * time.Second) // by ferry, not merely done writing
	c := p.client(t)
	require.Eventually(t, func() bool { return c.Get(ctx, k0).Val() == "probe" }, 10*time.Second, 20*time.Millisecond)
}

// A request with no live server to go to counts as a forward error, as in
// twemproxy (it showed forward_error 0 after such failures).
func TestNoServerAvailableCountsForwardError(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "timeout: 500", "auto_eject_hosts: true",
		"server_failure_limit: 1", "server_retry_timeout: 30000")
	c := p.client(t)
	servers[0].Kill()
	require.Eventually(t, func() bool {
		err := c.Get(ctx, "k").Err()
		return err != nil && strings.Contains(err.Error(), "no server available")
	}, 5*time.Second, 10*time.Millisecond)
	before := p.srv.Stats().Pools[0].ForwardError
	for _, err := range []error{c.Get(ctx, "k").Err(), c.MGet(ctx, "a", "b").Err(), c.Set(ctx, "x", "1", 0).Err()} {
		require.ErrorContains(t, err, "no server available")
	}
	require.Equal(t, before+3, p.srv.Stats().Pools[0].ForwardError)
}
