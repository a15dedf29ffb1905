// Regression tests of the batched hand-off (a ticket per relay and
// iteration), from a review of it.
package engine_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A ticket brings back the replies of two clients of the origin loop; the
// first one's reply (200 KB) is written at once, and the write fails (the
// client reset its connection), which closes it, and its OnClose flushed:
// that recycled the ticket, still being read for the second client's reply
// (the process died: index out of range in onReturned).
func TestHandoffTicketNotRecycledWhileItsRepliesComplete(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "server_connections: 1", "server_connections_scope: process")
	owner := engine.ConnOwner(servers[0].Addr, 2)
	origin := 1 - owner
	_, err := testutil.RedisDo(servers[0].Addr, "SET", "big", strings.Repeat("b", 200_000))
	require.NoError(t, err)
	var a, b *testutil.Raw // two clients of the origin loop
	for a == nil || b == nil {
		r := testutil.RawConn(t, p.addr)
		_, err := r.Do("PING")
		require.NoError(t, err)
		if p.srv.ClientLoops()[r.Conn.LocalAddr().String()] == origin {
			if a == nil {
				a = r
			} else {
				b = r
			}
		}
	}
	// The owner stalls, and the origin while a and b send: their requests
	// are read in one iteration and go in one ticket, a's first.
	p.srv.StallLoop(owner, 400*time.Millisecond)
	p.srv.StallLoop(origin, 100*time.Millisecond)
	a.SendCmd("GET", "big")
	time.Sleep(10 * time.Millisecond)
	b.SendCmd("GET", "k")
	time.Sleep(140 * time.Millisecond) // handed over; the owner is stalled
	// The ticket comes back while the origin is stalled again, and a resets
	// meanwhile.
	p.srv.StallLoop(origin, 700*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, a.Conn.(*net.TCPConn).SetLinger(0))
	require.NoError(t, a.Conn.Close()) // RST, not seen yet by the stalled origin loop
	_ = b.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := b.ReadReply()
	require.NoError(t, err)
	require.Equal(t, "$-1\r\n", string(got))
}
