package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Commands pipelined behind QUIT are not run, as in Redis: one packet
// "GET a; QUIT; INCR afterquit; PING" is answered "$-1 +OK" and closed, and
// the INCR never reaches a server.
func TestRedisCommandsAfterQuitAreNotRun(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers)
	for _, tc := range []struct{ name, before string }{
		{"quit first", ""},
		{"quit behind a forwarded GET", string(testutil.Command("GET", "a"))},
	} {
		conn := testutil.RawConn(t, p.addr)
		var pkt strings.Builder
		pkt.WriteString(tc.before)
		pkt.Write(testutil.Command("QUIT"))
		pkt.Write(testutil.Command("INCR", "afterquit"))
		pkt.Write(testutil.Command("PING"))
		conn.SendString(pkt.String())
		if tc.before != "" {
			r, err := conn.ReadReply()
			require.NoError(t, err, tc.name)
			require.Equal(t, "$-1\r\n", string(r), tc.name)
		}
		r, err := conn.ReadReply()
		require.NoError(t, err, tc.name)
		require.Equal(t, "+OK\r\n", string(r), tc.name)
		conn.ExpectClosed(2 * time.Second)
	}
	for _, s := range servers {
		r, err := testutil.RedisDo(s.Addr, "EXISTS", "afterquit")
		require.NoError(t, err)
		require.Equal(t, ":0\r\n", string(r), "INCR after QUIT reached %s", s.Addr)
	}
}

// memcache "quit" ends the stream the same way: earlier replies go out, what
// follows is not run.
func TestMemcacheCommandsAfterQuitAreNotRun(t *testing.T) {
	servers := startMemcacheds(t, 2)
	p := startMCProxy(t, "memcache", servers)
	conn := testutil.RawConn(t, p.addr)
	conn.SendString("get a\r\nquit\r\nset afterquit 0 0 1\r\nx\r\nversion\r\n")
	line, err := conn.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "END", line)
	conn.ExpectClosed(2 * time.Second)
	for _, s := range servers {
		c := testutil.RawConn(t, s.Addr)
		c.SendString("get afterquit\r\n")
		line, err := c.ReadLine()
		require.NoError(t, err)
		require.Equal(t, "END", line, "set after quit reached %s", s.Addr)
	}
}

// A refused MULTI must not let the commands a client queues behind it run:
// redis-py's default pipeline (MULTI, SET, INCR, EXEC) got "EXEC is not
// supported" but had its SET and INCR applied. Every command up to EXEC or
// DISCARD is refused, EXEC answers EXECABORT, and nothing reaches a server.
func TestRefusedMultiRunsNothing(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers)
	conn := testutil.RawConn(t, p.addr)
	var pkt strings.Builder
	for _, c := range [][]string{{"MULTI"}, {"SET", "tx1", "v"}, {"INCR", "tx2"}, {"MSET", "tx3", "a", "tx4", "b"},
		{"MULTI"}, {"EXEC"}, {"SET", "after", "1"}, {"MULTI"}, {"DEL", "after"}, {"DISCARD"}, {"GET", "after"}} {
		pkt.Write(testutil.Command(c...))
	}
	conn.SendString(pkt.String())
	want := []string{"-ERR", "-ERR ferry: command not run", "-ERR ferry: command not run", "-ERR ferry: command not run",
		"-ERR MULTI calls can not be nested", "-EXECABORT", "+OK", "-ERR", "-ERR ferry: command not run", "+OK", "$1\r\n1\r\n"}
	for i, w := range want {
		r, err := conn.ReadReply()
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(r), w), "reply %d: %q, want %q...", i, r, w)
	}
	for _, s := range servers {
		r, err := testutil.RedisDo(s.Addr, "EXISTS", "tx1", "tx2", "tx3", "tx4")
		require.NoError(t, err)
		require.Equal(t, ":0\r\n", string(r), "a command queued after a refused MULTI ran on %s", s.Addr)
	}
}

// A malformed storage line is answered like memcached answers it, and the
// connection goes on: "set onlykey" got ERROR and then a close.
func TestMemcacheMalformedStorageLineKeepsConnection(t *testing.T) {
	servers := startMemcacheds(t, 1)
	p := startMCProxy(t, "memcache", servers)
	conn := testutil.RawConn(t, p.addr)
	for _, tc := range []struct{ in, want string }{
		{"set onlykey\r\n", "ERROR"},
		{"set k 0 0\r\n", "ERROR"},
		{"set k 0 0 1 2 3\r\n", "ERROR"},
		{"set k 0 0 notanumber\r\n", "CLIENT_ERROR bad command line format"},
		{"set k 0 0 -1\r\n", "CLIENT_ERROR bad command line format"},
		{"ms k x\r\n", "CLIENT_ERROR bad command line format"},
		{"set k 0 0 1\r\nv\r\n", "STORED"},
		{"get k\r\n", "VALUE k 0 1"},
	} {
		conn.SendString(tc.in)
		line, err := conn.ReadLine()
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, line, tc.in)
	}
}

// With redis_auth, a client that has not authenticated gets NOAUTH for every
// known command but AUTH, HELLO and QUIT, whatever state the servers are in:
// here they want another password, so every backend connection fails.
func TestNoAuthWhateverTheServersState(t *testing.T) {
	servers := startRedises(t, 2, "--requirepass", "other")
	p := startProxy(t, servers, "redis_auth: s3cret", "timeout: 500")
	conn := testutil.RawConn(t, p.addr)
	for _, c := range [][]string{{"PING"}, {"GET", "a"}, {"MGET", "a", "b", "c"}, {"SET", "a", "1"}, {"ECHO", "x"},
		{"INFO"}, {"MULTI"}, {"EXEC"}, {"KEYS", "*"}, {"SELECT", "0"}, {"PING"}} {
		r, err := conn.Do(c...)
		require.NoError(t, err)
		require.Equal(t, "-NOAUTH Authentication required.\r\n", string(r), "%v", c)
	}
	r, err := conn.Do("AUTH", "s3cret")
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(r))
	r, err = conn.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(r))
	r, err = conn.Do("GET", "a")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(r), "-ERR ferry: server "), "%q", r)
	r, err = conn.Do("QUIT")
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(r))
}
