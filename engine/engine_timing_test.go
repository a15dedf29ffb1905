package engine_test

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// benchConn drives ferry with preencoded requests over one raw connection
// and reads exactly the expected reply bytes, so the client side allocates
// nothing and allocs/op is ferry's (plus the Go runtime's) per request.
func benchRoundTrips(b *testing.B, depth int, req, reply []byte) {
	servers := []*testutil.Proc{testutil.StartRedis(b)}
	benchProxy(b, startProxyB(b, servers), depth, req, reply)
}

// benchProxy is benchRoundTrips against the proxy p.
func benchProxy(b *testing.B, p *proxy, depth int, req, reply []byte) {
	c, err := net.Dial("tcp", p.addr)
	require.NoError(b, err)
	defer c.Close()
	batch := bytes.Repeat(req, depth)
	want := bytes.Repeat(reply, depth)
	got := make([]byte, len(want))
	// warm up: the backend connection, free lists, buffers
	for i := 0; i < 2000; i++ {
		_, _ = c.Write(batch)
		_, err := io.ReadFull(c, got)
		require.NoError(b, err)
	}
	require.Equal(b, string(want), string(got))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if !bytes.Equal(want, got) {
		b.Fatalf("reply %q", got)
	}
}

func BenchmarkProxyGET(b *testing.B) {
	benchRoundTrips(b, 1, testutil.Command("GET", "bench:key"), []byte("$-1\r\n"))
}

func BenchmarkProxySET(b *testing.B) {
	benchRoundTrips(b, 1, testutil.Command("SET", "bench:key", "0123456789abcdef0123456789abcdef"), []byte("+OK\r\n"))
}

func BenchmarkProxyGETPipeline16(b *testing.B) {
	benchRoundTrips(b, 16, testutil.Command("GET", "bench:key"), []byte("$-1\r\n"))
}

func BenchmarkProxySETPipeline16(b *testing.B) {
	benchRoundTrips(b, 16, testutil.Command("SET", "bench:key", "0123456789abcdef0123456789abcdef"), []byte("+OK\r\n"))
}

// The same through a redis_cluster pool in front of a 3-master cluster, in
// steady state: the slot map learned, no redirects (the request bytes are
// copied into a pooled buffer, so that a redirect could send them again).
func BenchmarkProxyClusterGET(b *testing.B) {
	p := startClusterProxy(b, testutil.StartRedisCluster(b, 3))
	benchProxy(b, p, 1, testutil.Command("GET", "bench:key"), []byte("$-1\r\n"))
}

func BenchmarkProxyClusterSET(b *testing.B) {
	p := startClusterProxy(b, testutil.StartRedisCluster(b, 3))
	benchProxy(b, p, 1, testutil.Command("SET", "bench:key", "0123456789abcdef0123456789abcdef"), []byte("+OK\r\n"))
}

func BenchmarkProxyClusterGETPipeline16(b *testing.B) {
	p := startClusterProxy(b, testutil.StartRedisCluster(b, 3))
	benchProxy(b, p, 16, testutil.Command("GET", "bench:key"), []byte("$-1\r\n"))
}

// A cross-slot MGET of 4 keys on 3 masters: split per slot, merged.
func BenchmarkProxyClusterMGET4(b *testing.B) {
	p := startClusterProxy(b, testutil.StartRedisCluster(b, 3))
	benchProxy(b, p, 1, testutil.Command("MGET", "a", "b", "c", "d"), []byte("*4\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n"))
}

// BenchmarkDirectGET is the same loop against redis-server itself: the
// baseline the proxy's figures are read against.
func BenchmarkDirectGET(b *testing.B) {
	s := testutil.StartRedis(b)
	c, err := net.Dial("tcp", s.Addr)
	require.NoError(b, err)
	defer c.Close()
	req, want := testutil.Command("GET", "bench:key"), []byte("$-1\r\n")
	got := make([]byte, len(want))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = c.Write(req)
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}

// benchMC is benchRoundTrips for a memcache pool in front of one memcached.
func benchMC(b *testing.B, protocol string, depth int, req, reply []byte) {
	servers := []*testutil.Proc{testutil.StartMemcached(b)}
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(b))
	p := startProxyYAML(b, mcPoolYAML(listen, protocol, servers), servers)
	c, err := net.Dial("tcp", p.addr)
	require.NoError(b, err)
	defer c.Close()
	batch := bytes.Repeat(req, depth)
	want := bytes.Repeat(reply, depth)
	got := make([]byte, len(want))
	for i := 0; i < 2000; i++ {
		_, _ = c.Write(batch)
		_, err := io.ReadFull(c, got)
		require.NoError(b, err)
	}
	require.Equal(b, want, got)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProxyMemcacheTextGET(b *testing.B) {
	benchMC(b, "memcache", 16, []byte("get bench:key\r\n"), []byte("END\r\n"))
}

func BenchmarkProxyMemcacheTextSET(b *testing.B) {
	benchMC(b, "memcache", 16, []byte("set bench:key 0 0 32\r\n0123456789abcdef0123456789abcdef\r\n"), []byte("STORED\r\n"))
}

func BenchmarkProxyMemcacheBinaryGET(b *testing.B) {
	req := encodeBin(0x00, 7, nil, []byte("bench:nokey"), nil)
	reply := []byte{0x81, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 'N', 'o', 't', ' ', 'f', 'o', 'u', 'n', 'd'}
	benchMC(b, "memcache_binary", 16, req, reply)
}

func BenchmarkProxyMemcacheBinarySET(b *testing.B) {
	req := encodeBin(0x11, 7, setExtras(0, 0), []byte("bench:key"), []byte("0123456789abcdef0123456789abcdef")) // setq
	noop := encodeBin(0x0a, 8, nil, nil, nil)
	reply := []byte{0x81, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}
	benchMC(b, "memcache_binary", 1, append(bytes.Repeat(req, 15), noop...), reply)
}
