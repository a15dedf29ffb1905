package engine_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// benchConn drives ferry with preencoded requests over one raw connection
// and reads exactly the expected reply bytes, so the client side allocates
// nothing and allocs/op is ferry's (plus the Go runtime's) per request.
func benchRoundTrips(b *testing.B, depth int, req, reply []byte) {
	servers := []*testutil.Proc{testutil.StartRedis(b)}
	p := startProxyB(b, servers)
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
