package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// classCounts returns the number of requests in each latency class of pool
// 0, once every count is at least want's (histograms are published on the
// loops' ticks).
func waitClassCounts(t *testing.T, srv *engine.Server, want map[string]uint64) map[string]uint64 {
	t.Helper()
	var got map[string]uint64
	ok := assert.Eventually(t, func() bool {
		got = map[string]uint64{}
		for _, cl := range srv.Stats().Pools[0].Latency {
			got[cl.Class] = cl.Count()
		}
		for k, v := range want {
			if got[k] < v {
				return false
			}
		}
		return true
	}, 5*time.Second, 5*time.Millisecond)
	require.True(t, ok, "latency counts %v, want at least %v", got, want)
	return got
}

func TestLatencyClassesRedis(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers)
	c := p.client(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		require.NoError(t, c.Set(ctx, fmt.Sprint("k", i), "v", 0).Err())
	}
	for i := 0; i < 7; i++ {
		require.NoError(t, c.Get(ctx, fmt.Sprint("k", i%5)).Err())
	}
	for i := 0; i < 3; i++ {
		require.NoError(t, c.MGet(ctx, "k0", "k1", "k2", "k3").Err())
	}
	require.NoError(t, c.Ping(ctx).Err())
	got := waitClassCounts(t, p.srv, map[string]uint64{"write": 5, "read": 7, "multi": 3, "other": 1})
	pool := p.srv.Stats().Pools[0]
	assert.Equal(t, uint64(5), got["write"])
	assert.Equal(t, uint64(7), got["read"])
	assert.Equal(t, uint64(3), got["multi"])
	// other: the PING, and go-redis's HELLO on connect.
	assert.Equal(t, pool.Requests, got["read"]+got["write"]+got["multi"]+got["other"],
		"every request is counted once, in one class")
	assert.Equal(t, "redis", pool.Protocol)
	for _, cl := range pool.Latency {
		if cl.Class == "read" {
			assert.Greater(t, cl.Quantile(0.99), time.Duration(0), "a GET through a real server takes time")
			assert.Less(t, cl.Quantile(0.5), 5*time.Second)
		}
	}
	assert.Zero(t, pool.SlowRequests, "slowlog is off")
}

func TestLatencyClassesMemcache(t *testing.T) {
	for _, proto := range []string{"memcache", "memcache_binary"} {
		t.Run(proto, func(t *testing.T) {
			servers := startMemcacheds(t, 2)
			p := startMCProxy(t, proto, servers)
			if proto == "memcache_binary" {
				conn, err := net.Dial("tcp", p.addr)
				require.NoError(t, err)
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
				for _, pkt := range [][]byte{
					encodeBin(0x01, 1, setExtras(0, 0), []byte("k"), []byte("v")), // set
					encodeBin(0x02, 2, setExtras(0, 0), []byte("k"), []byte("v")), // add (fails: exists)
					encodeBin(0x00, 3, nil, []byte("k"), nil),                     // get
					encodeBin(0x0c, 4, nil, []byte("k"), nil),                     // getk
					encodeBin(0x0d, 5, nil, []byte("k"), nil),                     // getkq (a hit: answered)
					encodeBin(0x04, 6, nil, []byte("k"), nil),                     // delete
					encodeBin(0x0a, 7, nil, nil, nil),                             // noop
				} {
					_, err := conn.Write(pkt)
					require.NoError(t, err)
					readBin(t, conn)
				}
				got := waitClassCounts(t, p.srv, map[string]uint64{"set": 2, "get": 3, "delete": 1, "other": 1})
				assert.Equal(t, map[string]uint64{"set": 2, "get": 3, "delete": 1, "other": 1}, got)
				return
			}
			c := memcache.New(p.addr)
			c.Timeout = 5 * time.Second
			for i := 0; i < 4; i++ {
				require.NoError(t, c.Set(&memcache.Item{Key: fmt.Sprint("k", i), Value: []byte("v")}))
			}
			_, err := c.GetMulti([]string{"k0", "k1", "k2", "k3"})
			require.NoError(t, err)
			_, err = c.Get("k0")
			require.NoError(t, err)
			require.NoError(t, c.Delete("k0"))
			require.NoError(t, c.Touch("k1", 10))
			got := waitClassCounts(t, p.srv, map[string]uint64{"set": 4, "get": 2, "delete": 1, "other": 1})
			assert.Equal(t, map[string]uint64{"set": 4, "get": 2, "delete": 1, "other": 1}, got)
			assert.Equal(t, p.srv.Stats().Pools[0].Requests, uint64(8), "every request is counted once")
		})
	}
}

// syncBuffer is a log destination the loops and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(msg string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, "msg=\""+msg+"\"") {
			out = append(out, l)
		}
	}
	return out
}

// busyScript runs for at least 3 ms on the server: a slow request without
// stopping anything or sleeping in the test.
const busyScript = `local s = redis.call('TIME')
local e
repeat e = redis.call('TIME') until (e[1] - s[1]) * 1000000 + (e[2] - s[2]) >= 3000
return 1`

func TestSlowlog(t *testing.T) {
	servers := startRedises(t, 1)
	logs := &syncBuffer{}
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := startProxyOpts(t, engine.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))},
		poolYAML(listen, servers, "slowlog_threshold_ms: 2"), servers)
	c := p.client(t)
	ctx := context.Background()

	for i := 0; i < 50; i++ { // fast: not logged
		require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	}
	const slow = 25
	for i := 0; i < slow; i++ {
		require.NoError(t, c.Eval(ctx, busyScript, nil).Err())
	}
	require.Eventually(t, func() bool { return p.srv.Stats().Pools[0].SlowRequests >= slow },
		5*time.Second, 5*time.Millisecond)
	pool := p.srv.Stats().Pools[0]
	assert.EqualValues(t, slow, pool.SlowRequests, "only the scripts are slow")
	assert.Equal(t, 2*time.Millisecond, pool.SlowlogThreshold)

	// 25 slow requests in well under a second: 10 lines, then the others
	// are counted and reported once the second is over.
	require.Eventually(t, func() bool { return len(logs.lines("slow requests not logged (rate limit)")) > 0 },
		5*time.Second, 10*time.Millisecond, "the suppressed ones are reported on a tick")
	lines := logs.lines("slow request")
	require.Len(t, lines, 10, "rate-limited to 10 lines per second per loop:\n%s", strings.Join(lines, "\n"))
	l := lines[0]
	for _, want := range []string{"level=WARN", "pool=alpha", "server=" + servers[0].Addr, "command=EVAL", "key_len=0", "threshold=2ms"} {
		assert.Contains(t, l, want)
	}
	assert.Regexp(t, `duration=([3-9]|[1-9][0-9]+)(\.[0-9]+)?ms`, l, "the script's duration (≥ 3 ms)")
	assert.Contains(t, logs.lines("slow requests not logged (rate limit)")[0], "suppressed=15")
}
