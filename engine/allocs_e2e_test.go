package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// The requests of the allocation test and benchmarks: a GET of a missing
// key and a SET of 32 bytes, one at a time per client.
var (
	allocGET      = testutil.Command("GET", "bench:key")
	allocGETReply = []byte("$-1\r\n")
	allocSET      = testutil.Command("SET", "bench:key", "0123456789abcdef0123456789abcdef")
	allocSETReply = []byte("+OK\r\n")
)

// rawClients are connections that each send one preencoded request and read
// exactly its reply, over and over, from their own goroutine: the client
// side allocates nothing once started, so the process's heap allocations
// while they run are ferry's (and the Go runtime's).
type rawClients struct {
	conns      []net.Conn
	req, reply []byte
}

func dialRawClients(tb testing.TB, addr string, n int, req, reply []byte) *rawClients {
	tb.Helper()
	rc := &rawClients{req: req, reply: reply}
	for range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
		rc.conns = append(rc.conns, c)
	}
	rc.run(tb, 200, nil) // warm up: the backend connection, free lists, buffers
	return rc
}

// run has every client make perClient round trips at once. between, if
// not nil, runs once every client's goroutine is started and waiting, and
// returns the function to call when all are done; the allocations of
// starting the goroutines and of waking them are outside.
func (rc *rawClients) run(tb testing.TB, perClient int, between func() func()) {
	tb.Helper()
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, len(rc.conns))
	for _, c := range rc.conns {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			got := make([]byte, len(rc.reply))
			ready.Done()
			<-start
			for range perClient {
				if _, err := c.Write(rc.req); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, rc.reply) {
					errs <- fmt.Errorf("reply %q, want %q", got, rc.reply)
					return
				}
			}
		}()
	}
	ready.Wait()
	time.Sleep(20 * time.Millisecond) // every goroutine is parked on start
	var end func()
	if between != nil {
		end = between()
	}
	close(start)
	done.Wait()
	if end != nil {
		end()
	}
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// idleMallocRate is how many heap objects the process allocates per second
// with the clients connected and silent: the loops' ticks (each is queued
// with EventLoop.Execute, two objects) and whatever the runtime does.
func idleMallocRate() float64 {
	const window = 300 * time.Millisecond
	before, t0 := mallocs(), time.Now()
	time.Sleep(window)
	return float64(mallocs()-before) / time.Since(t0).Seconds()
}

// measure runs perClient round trips on every client and returns the heap
// objects allocated per request beyond the idle rate, and the raw count.
func (rc *rawClients) measure(tb testing.TB, perClient int, idleRate float64) (perReq float64, total uint64) {
	var before uint64
	var t0 time.Time
	var elapsed time.Duration
	rc.run(tb, perClient, func() func() {
		before, t0 = mallocs(), time.Now()
		return func() { total, elapsed = mallocs()-before, time.Since(t0) }
	})
	reqs := float64(perClient * len(rc.conns))
	return (float64(total) - idleRate*elapsed.Seconds()) / reqs, total
}

// A GET or SET through one loop allocates nothing in steady state, whether
// the loop serves one client, two or fifty: with more than one client, the
// loop's writes wait for the end of the loop iteration (gnet's
// OnIterationEnd, third_party/gnet), which costs no allocation, where
// queuing them with EventLoop.Execute cost two per iteration (about 2 per
// request with 2 clients, 0.2 with 50); and gnet's poller resizes its event
// list without allocating (with 50 clients it reallocated it every few
// polls: 0.02 per request).
func TestZeroAllocsPerRequest(t *testing.T) {
	servers := []*testutil.Proc{testutil.StartRedis(t)}
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	p := startProxyOpts(t, engine.Options{Threads: 1}, poolYAML(listen, servers), servers)
	requireZeroAllocs(t, "on one loop", func(t *testing.T, n int, req, reply []byte) *rawClients {
		return dialRawClients(t, p.addr, n, req, reply)
	})
}

// requireZeroAllocs measures GET and SET with 1, 2 and 50 clients that
// dial opens, and requires no heap allocation per request beyond the idle
// rate, in steady state: of up to three measurements, the best. A loop's
// free lists grow to what is in flight at once, which a loaded machine can
// raise in the middle of a measurement (more tickets out while a loop
// waits for a core); an allocation per request, or per iteration, shows
// in every measurement.
func requireZeroAllocs(t *testing.T, where string, dial func(t *testing.T, n int, req, reply []byte) *rawClients) {
	for _, cmd := range []struct {
		name       string
		req, reply []byte
	}{{"GET", allocGET, allocGETReply}, {"SET", allocSET, allocSETReply}} {
		for _, n := range []int{1, 2, 50} {
			t.Run(fmt.Sprintf("%s/clients=%d", cmd.name, n), func(t *testing.T) {
				rc := dial(t, n, cmd.req, cmd.reply)
				perClient := max(10000/n, 200)
				var perReq float64
				for range 3 {
					idle := idleMallocRate()
					var total uint64
					perReq, total = rc.measure(t, perClient, idle)
					t.Logf("%d requests: %d heap objects allocated (idle: %.0f/s), %.4f per request beyond idle",
						perClient*n, total, idle, perReq)
					if perReq < 0.005 {
						break
					}
				}
				// Allocating once per loop iteration is at least one object
				// per 50 requests here; 0.005 leaves room for the noise of
				// the idle estimate.
				require.Less(t, perReq, 0.005, "heap allocations per %s with %d clients %s", cmd.name, n, where)
			})
		}
	}
}

// benchClients is the benchmark of n clients on one loop making b.N
// requests between them; allocs/op is per request, and allocs/req is the
// same figure unrounded.
func benchClients(b *testing.B, n int, req, reply []byte) {
	servers := []*testutil.Proc{testutil.StartRedis(b)}
	p := startProxyB(b, servers)
	rc := dialRawClients(b, p.addr, n, req, reply)
	perClient := max((b.N+n-1)/n, 1)
	var total uint64
	rc.run(b, perClient, func() func() {
		b.ReportAllocs()
		b.ResetTimer()
		before := mallocs()
		return func() { b.StopTimer(); total = mallocs() - before }
	})
	b.ReportMetric(float64(total)/float64(perClient*n), "allocs/req")
}

func BenchmarkProxyGETClients2(b *testing.B)  { benchClients(b, 2, allocGET, allocGETReply) }
func BenchmarkProxyGETClients50(b *testing.B) { benchClients(b, 50, allocGET, allocGETReply) }
func BenchmarkProxySETClients2(b *testing.B)  { benchClients(b, 2, allocSET, allocSETReply) }
func BenchmarkProxySETClients50(b *testing.B) { benchClients(b, 50, allocSET, allocSETReply) }

// The same through the hand-off (scope "process", 2 loops, one connection
// to the server): every client is on the loop that does not own the
// connection, so each request goes to the other loop and back in a ticket.
// Tickets and their buffers are reused, and a loop wakes its peer with
// gnet's IterationWaker (ferry's patch), where EventLoop.Execute allocated
// a closure and a queue node per wake-up (about one per request with 1 or 2
// clients).
func TestZeroAllocsPerRequestHandoff(t *testing.T) {
	servers := []*testutil.Proc{testutil.StartRedis(t)}
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	p := startProxyOpts(t, engine.Options{Threads: 2},
		poolYAML(listen, servers, "server_connections: 1", "server_connections_scope: process"), servers)
	origin := 1 - engine.ConnOwner(servers[0].Addr, 2)
	requireZeroAllocs(t, "handed over", func(t *testing.T, n int, req, reply []byte) *rawClients {
		return dialRawClientsOnLoop(t, p, origin, n, req, reply)
	})
}

// dialRawClientsOnLoop is dialRawClients with every client on loop idx
// (the others dialled on the way are closed).
func dialRawClientsOnLoop(tb testing.TB, p *proxy, idx, n int, req, reply []byte) *rawClients {
	tb.Helper()
	rc := &rawClients{req: req, reply: reply}
	for len(rc.conns) < n {
		c, err := net.Dial("tcp", p.addr)
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = c.Close() })
		// A round trip: the loop has the client once it answered.
		_, err = c.Write(req)
		require.NoError(tb, err)
		_, err = io.ReadFull(c, make([]byte, len(reply)))
		require.NoError(tb, err)
		if p.srv.ClientLoops()[c.LocalAddr().String()] != idx {
			_ = c.Close()
			continue
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
		rc.conns = append(rc.conns, c)
	}
	rc.run(tb, 200, nil)
	return rc
}
