package engine_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A loop that owns the connection stalls while a client of the other loop
// floods noreply sets through the relay: what the relay holds for the
// stalled loop must stay bounded (maxOverflow requests, wherever they
// wait); past that the requests fail (ForwardError).
func TestHandoffNoreplyFloodToStalledOwnerIsBounded(t *testing.T) {
	p, owner, c := mcHandoffClient(t)
	const n = 300_000
	var b []byte
	for i := range n {
		b = fmt.Appendf(b, "set k%d 0 0 4 noreply\r\nvvvv\r\n", i)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	before := p.srv.Stats().Pools[0].ForwardError
	const stall = 6 * time.Second
	stallEnd := time.Now().Add(stall)
	p.srv.StallLoop(owner, stall)                          // returns once the owner is stalled
	t.Cleanup(func() { time.Sleep(time.Until(stallEnd)) }) // the proxy stops once the owner runs again
	start := time.Now()
	_, err := c.Write(b)
	require.NoError(t, err)
	// Let the relay's loop parse it all (it stays responsive).
	_, err = c.Write([]byte("version\r\n"))
	require.NoError(t, err)
	_, err = c.ReadLine() // answered by the relay's loop once it parsed everything before it
	require.NoError(t, err)
	held := time.Since(start)
	failed := p.srv.Stats().Pools[0].ForwardError - before
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("parsed in %v; %d of %d noreply requests failed at once; heap +%d MiB", held, failed, n, (int64(ms.HeapAlloc)-int64(heap0))>>20)
	require.Less(t, held, 5500*time.Millisecond, "parsed while the owner was still stalled")
	const bound = 1 << 16 // maxOverflow: requests out with the stalled peer, in its inbox or waiting for room there
	require.GreaterOrEqual(t, int(failed), n-bound,
		"the relay holds at most maxOverflow requests for a stalled loop")
}

// After one burst of 4 KiB values through a relay, the loop keeps every
// ticket of the burst with its buffers for good (not reclaimable by the GC):
// inboxCap tickets x (4 KiB request + 4 KiB reply) = 32 MiB per loop.
func TestHandoffTicketFreeListRetention(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "server_connections: 1", "server_connections_scope: process")
	owner := engine.ConnOwner(servers[0].Addr, 2)
	val := strings.Repeat("v", 4000)
	var cs []*testutil.Raw
	origin := 1 - owner
	for len(cs) < 4 {
		r := testutil.RawConn(t, p.addr)
		_, err := r.Do("PING")
		require.NoError(t, err)
		if p.srv.ClientLoops()[r.Conn.LocalAddr().String()] == origin {
			cs = append(cs, r)
		}
	}
	_, err := cs[0].Do("SET", "big", val)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b []byte
			for range 1000 {
				b = append(b, testutil.Command("GET", "big")...)
			}
			_, _ = c.Write(b)
			for range 1000 {
				if _, err := c.ReadReply(); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	n, bytes := p.srv.TicketFreeList(origin)
	t.Logf("loop %d keeps %d free tickets holding %d KiB of buffers", origin, n, bytes>>10)
	require.Less(t, bytes, 4<<20, "buffers kept by idle tickets")
}

// A noreply set handed to a stalled owner, followed by a get: checkRelay
// fails the get (its client sees the error) and the epoch drops the set too,
// though nothing ever reported it failed: a write accepted silently lost.
func TestHandoffNoreplyNotFailedIsNotDropped(t *testing.T) {
	p, owner, c := mcHandoffClient(t, "timeout: 300")
	p.srv.StallLoop(owner, 1500*time.Millisecond)
	_, err := c.Write([]byte("set a 0 0 1 noreply\r\nA\r\nget x\r\n"))
	require.NoError(t, err)
	l, err := c.ReadLine()
	require.NoError(t, err)
	require.Contains(t, l, "has not run for", "the get fails: the owner is stalled")
	// Once the owner runs again (a get through it is answered, not failed):
	require.Eventually(t, func() bool {
		if _, err := c.Write([]byte("get a\r\n")); err != nil {
			return false
		}
		l, err = c.ReadLine()
		return err == nil && !strings.Contains(l, "has not run for")
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "VALUE a 0 1", l, "the noreply set, never reported failed, was applied")
}

// mcHandoffClient starts a memcached and a proxy in front of it with one
// connection for the process (scope "process", 2 loops) and the pool keys
// extra, and returns the loop that owns the connection and a client on the
// other loop: its requests are all handed over.
func mcHandoffClient(t *testing.T, extra ...string) (p *proxy, owner int, c *testutil.Raw) {
	t.Helper()
	servers := startMemcacheds(t, 1)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p = startProxyYAML(t, mcPoolYAML(listen, "memcache", servers,
		append(extra, "server_connections: 1", "server_connections_scope: process")...), servers)
	owner = engine.ConnOwner(servers[0].Addr, 2)
	return p, owner, mcClientOffLoop(t, p, owner)
}

// mcClientOffLoop connects memcache clients until one is on a loop other
// than owner (accepted round robin: within a few).
func mcClientOffLoop(t *testing.T, p *proxy, owner int) *testutil.Raw {
	t.Helper()
	for range 4 {
		r := testutil.RawConn(t, p.addr)
		_, _ = r.Write([]byte("version\r\n"))
		_, _ = r.ReadLine() // answered: the proxy knows the client
		if l, ok := p.srv.ClientLoops()[r.Conn.LocalAddr().String()]; ok && l != owner {
			return r
		}
	}
	t.Fatal("no client on a loop other than the owner")
	return nil
}

// The same with large values: what the relay holds for a stalled loop is
// bounded by bytes too (maxNoreplyBytes, 64 MiB), not only by count
// (65536 sets of 500 KB would be 32 GB).
func TestHandoffLargeNoreplyFloodToStalledOwnerIsBoundedInBytes(t *testing.T) {
	p, owner, c := mcHandoffClient(t)
	const n, size = 300, 500_000
	val := strings.Repeat("v", size)
	before := p.srv.Stats().Pools[0].ForwardError
	const stall = 6 * time.Second
	stallEnd := time.Now().Add(stall)
	p.srv.StallLoop(owner, stall)                          // returns once the owner is stalled
	t.Cleanup(func() { time.Sleep(time.Until(stallEnd)) }) // the proxy stops once the owner runs again
	go func() {
		for i := range n {
			if _, err := fmt.Fprintf(c, "set big%d 0 0 %d noreply\r\n%s\r\n", i, size, val); err != nil {
				return
			}
		}
		_, _ = c.Write([]byte("version\r\n"))
	}()
	_, err := c.ReadLine() // answered by the relay's loop once it parsed everything before it
	require.NoError(t, err)
	failed := int(p.srv.Stats().Pools[0].ForwardError - before)
	held := n - failed
	t.Logf("%d of %d noreply sets of %d bytes failed at once; %d (%d MiB) held for the stalled loop", failed, n, size, held, held*size>>20)
	require.LessOrEqual(t, held*size, 64<<20+size, "bytes held for a stalled loop")
}
