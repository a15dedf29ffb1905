package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A reply far larger than gnet's 64 KiB read arrives over hundreds of reads
// and must cost time linear in its size. Left in gnet's buffer, a partial
// reply was copied again on every read (about 8 GB of copies for this 32 MiB
// MGET: seconds); gathered by the backend connection it takes milliseconds.
func TestLargeReplyGatheredLinearly(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers)
	c := p.client(t)

	val := strings.Repeat("v", 64<<10)
	keys := make([]string, 512)
	pipe := direct(t, servers[0]).Pipeline()
	for i := range keys {
		keys[i] = fmt.Sprintf("big:%d", i)
		pipe.Set(ctx, keys[i], val, 0)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)

	best := time.Hour
	for range 3 {
		start := time.Now()
		vals, err := c.MGet(ctx, keys...).Result()
		best = min(best, time.Since(start))
		require.NoError(t, err)
		require.Len(t, vals, len(keys))
		for i, v := range vals {
			require.Equal(t, val, v, "value %d", i)
		}
	}
	t.Logf("32 MiB MGET: best of 3 %v", best)
	require.Less(t, best, time.Second, "a 32 MiB MGET reply through the proxy")

	// The connection goes on with small replies after a gathered one.
	require.NoError(t, c.Set(ctx, "small", "1", 0).Err())
	require.Equal(t, "1", c.Get(ctx, "small").Val())
}

// The same for a memcache text multi-get: one reply of many VALUE blocks.
func TestLargeMemcacheGetGatheredLinearly(t *testing.T) {
	servers := []*testutil.Proc{testutil.StartMemcached(t, "-I", "2m")}
	listen := "127.0.0.1:" + fmt.Sprint(testutil.FreePort(t))
	p := startProxyYAML(t, mcPoolYAML(listen, "memcache", servers), servers)
	mc := memcache.New(p.addr)
	mc.Timeout = 10 * time.Second

	val := []byte(strings.Repeat("m", 64<<10))
	keys := make([]string, 512)
	for i := range keys {
		keys[i] = fmt.Sprintf("big:%d", i)
		require.NoError(t, mc.Set(&memcache.Item{Key: keys[i], Value: val}))
	}
	best := time.Hour
	for range 3 {
		start := time.Now()
		items, err := mc.GetMulti(keys)
		best = min(best, time.Since(start))
		require.NoError(t, err)
		require.Len(t, items, len(keys))
		for _, k := range keys {
			require.Equal(t, val, items[k].Value, k)
		}
	}
	t.Logf("32 MiB get: best of 3 %v", best)
	require.Less(t, best, time.Second, "a 32 MiB get reply through the proxy")
	require.NoError(t, mc.Set(&memcache.Item{Key: "small", Value: []byte("1")}))
	it, err := mc.Get("small")
	require.NoError(t, err)
	require.Equal(t, "1", string(it.Value))
}

// A request far larger than gnet's 64 KiB read (one MSET of 200,000 pairs,
// 25 MB) costs about what redis-server itself takes to read it. Left in
// gnet's buffer, the partial request was copied again on every read: 6x
// direct and more, quadratic in its size (60 MB took 14 s).
func TestLargeRequestGatheredLinearly(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers)

	const pairs = 200_000
	val := strings.Repeat("v", 100)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n$4\r\nMSET\r\n", 1+2*pairs)
	for i := range pairs {
		k := fmt.Sprintf("k%d", i)
		fmt.Fprintf(&b, "$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(val), val)
	}
	req := []byte(b.String())

	timeMSET := func(addr string) time.Duration {
		best := time.Hour
		for range 2 {
			c := testutil.RawConn(t, addr)
			start := time.Now()
			c.Send(req)
			r, err := c.ReadReply()
			best = min(best, time.Since(start))
			require.NoError(t, err)
			require.Equal(t, "+OK\r\n", string(r))
			c.Close()
		}
		return best
	}
	direct, proxied := timeMSET(servers[0].Addr), timeMSET(p.addr)
	t.Logf("%d-byte MSET: direct %v, through ferry %v", len(req), direct, proxied)
	require.Less(t, proxied, 3*direct+200*time.Millisecond)
	require.Equal(t, val, p.client(t).Get(ctx, fmt.Sprintf("k%d", pairs-1)).Val())
}
