package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// proxy is an in-process ferry serving one redis pool.
type proxy struct {
	srv     *engine.Server
	addr    string
	cfg     *config.Config
	servers []*testutil.Proc
}

// redisTrio starts n redis-servers with the given extra args.
func startRedises(t *testing.T, n int, args ...string) []*testutil.Proc {
	t.Helper()
	out := make([]*testutil.Proc, n)
	for i := range out {
		out[i] = testutil.StartRedis(t, args...)
	}
	return out
}

// poolYAML is a pool config over servers, with extra "key: value" lines.
func poolYAML(listen string, servers []*testutil.Proc, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "alpha:\n  listen: %s\n  redis: true\n", listen)
	for _, e := range extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	b.WriteString("  servers:\n")
	for i, s := range servers {
		fmt.Fprintf(&b, "    - %s:1 server%d\n", s.Addr, i)
	}
	return b.String()
}

func startProxy(t *testing.T, servers []*testutil.Proc, extra ...string) *proxy {
	return startProxyB(t, servers, extra...)
}

// startProxyB is startProxy for tests and benchmarks.
func startProxyB(t testing.TB, servers []*testutil.Proc, extra ...string) *proxy {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return startProxyYAML(t, poolYAML(listen, servers, extra...), servers)
}

func startProxyYAML(t testing.TB, yaml string, servers []*testutil.Proc) *proxy {
	t.Helper()
	return startProxyOpts(t, engine.Options{}, yaml, servers)
}

// startProxyOpts is startProxyYAML with engine options (threads, version and
// logger are filled in).
func startProxyOpts(t testing.TB, opts engine.Options, yaml string, servers []*testutil.Proc) *proxy {
	t.Helper()
	cfg, err := config.Parse("test.yml", []byte(yaml))
	require.NoError(t, err, yaml)
	applyTestScope(cfg)
	if opts.Threads == 0 {
		opts.Threads = threads(t)
	}
	opts.Version = "test"
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := engine.New(cfg, opts)
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
	require.NoError(t, testutil.WaitForPort(addr, 5*time.Second))
	// WaitForPort's own connection is accepted and closed asynchronously:
	// let it go, so tests that count clients start from zero.
	require.Eventually(t, func() bool {
		st := srv.Stats()
		return st.TotalConnections >= 1 && st.CurrConnections == 0
	}, 5*time.Second, 2*time.Millisecond)
	return &proxy{srv: srv, addr: addr, cfg: cfg, servers: servers}
}

// testScope is FERRY_TEST_CONN_SCOPE: with "process", every pool the tests
// start (but redis_cluster ones) counts server_connections for the whole
// process, so that with 2 loops one of them hands its requests to the
// other (handoff.go). make test runs the package in both scopes.
var testScope = os.Getenv("FERRY_TEST_CONN_SCOPE")

func applyTestScope(cfg *config.Config) {
	if testScope == "" {
		return
	}
	for _, p := range cfg.Pools {
		if !p.IsRedisCluster() {
			p.ServerConnectionsScope = testScope
		}
	}
}

// processScope says the tests run in scope "process" (a test of the
// per-loop connection count skips).
func processScope() bool { return testScope == config.ScopeProcess }

// connsPerServer is how many connections ferry opens to each server with
// server_connections n in the scope the tests run in.
func connsPerServer(t testing.TB, n int) int {
	if processScope() {
		return n
	}
	return n * threads(t)
}

func (p *proxy) client(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: p.addr, Protocol: 2, DisableIndentity: true,
		PoolSize: 4, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func direct(t *testing.T, s *testutil.Proc) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, DisableIndentity: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// threads is 2 event loops for tests (cross-loop behaviour gets exercised)
// and 1 for benchmarks (comparable with single-threaded twemproxy).
func threads(t testing.TB) int {
	if _, ok := t.(*testing.B); ok {
		return 1
	}
	return 2
}
