package engine_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// sendAndHalfClose writes req, shuts down the sending side, and returns all
// the client reads until the proxy closes the connection.
func sendAndHalfClose(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, req)
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	out, err := io.ReadAll(c)
	require.NoError(t, err, "the proxy must answer, then close")
	return string(out)
}

// The README's own example, `printf 'set k 0 0 1\r\nv\r\nget k\r\n' | nc -q1
// 127.0.0.1 22122`, printed nothing 27 times in 30: gnet closed the client
// at its EOF and the replies owed were dropped.
func TestHalfClosedMemcacheClientGetsItsReplies(t *testing.T) {
	servers := startMemcacheds(t, 2)
	p := startMCProxy(t, "memcache", servers)
	for i := 0; i < 30; i++ {
		got := sendAndHalfClose(t, p.addr, fmt.Sprintf("set k%d 0 0 1\r\nv\r\nget k%d\r\n", i, i))
		require.Equal(t, fmt.Sprintf("STORED\r\nVALUE k%d 0 1\r\nv\r\nEND\r\n", i), got, "try %d", i)
	}
}

// 20 connections each send SET; INCR; GET then shut down their sending
// side: every one gets its three replies and every INCR is applied.
func TestHalfClosedRedisClientsGetEveryReply(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k := fmt.Sprintf("hc%d", i)
			req := string(testutil.Command("SET", k, "10")) + string(testutil.Command("INCR", k)) + string(testutil.Command("GET", k))
			c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, req); err != nil {
				errs <- err
				return
			}
			_ = c.(*net.TCPConn).CloseWrite()
			out, err := io.ReadAll(c)
			if want := "+OK\r\n:11\r\n$2\r\n11\r\n"; err != nil || string(out) != want {
				errs <- fmt.Errorf("client %d: %q (%v), want %q", i, out, err, want)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := p.client(t)
	for i := 0; i < 20; i++ {
		require.Equal(t, "11", c.Get(ctx, fmt.Sprintf("hc%d", i)).Val())
	}
}

// A half-closed client whose requests were held back by max_inflight still
// has them all run and answered, in order, before the close.
func TestHalfClosedThrottledClientIsServedToTheEnd(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "max_inflight: 4")
	var req strings.Builder
	const n = 3000
	for i := 0; i < n; i++ {
		req.Write(testutil.Command("INCR", "hcount"))
	}
	req.Write(testutil.Command("PING"))
	req.Write(testutil.Command("GET", "hcount"))
	req.WriteString("*2\r\n$3\r\nGET\r\n$5\r\nparti") // a partial request: never answered
	out := sendAndHalfClose(t, p.addr, req.String())
	br := bufio.NewReader(strings.NewReader(out))
	for i := 1; i <= n; i++ {
		r, err := testutil.ReadReply(br)
		require.NoError(t, err, "reply %d", i)
		require.Equal(t, fmt.Sprintf(":%d\r\n", i), string(r))
	}
	r, err := testutil.ReadReply(br)
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(r))
	r, err = testutil.ReadReply(br)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("$4\r\n%d\r\n", n), string(r))
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "nothing after the last reply")
}

// A client that half-closes after QUIT gets the replies before the QUIT and
// then the close; what it sent after QUIT is not run.
func TestHalfClosedAfterQuit(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers)
	req := string(testutil.Command("SET", "hq", "1")) + string(testutil.Command("QUIT")) + string(testutil.Command("SET", "hq", "2"))
	require.Equal(t, "+OK\r\n+OK\r\n", sendAndHalfClose(t, p.addr, req))
	require.Equal(t, "1", p.client(t).Get(ctx, "hq").Val())
}
