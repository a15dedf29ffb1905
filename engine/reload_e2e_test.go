package engine_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// reloadYAML is a config with one redis pool per entry of pools (name ->
// servers) listening on the given addresses.
type reloadPool struct {
	name, listen string
	servers      []*testutil.Proc
	weights      []int
	extra        []string
}

func reloadYAML(pools ...reloadPool) string {
	var b strings.Builder
	for _, p := range pools {
		fmt.Fprintf(&b, "%s:\n  listen: %s\n  redis: true\n  timeout: 2000\n", p.name, p.listen)
		for _, e := range p.extra {
			fmt.Fprintf(&b, "  %s\n", e)
		}
		b.WriteString("  servers:\n")
		for i, s := range p.servers {
			w := 1
			if i < len(p.weights) {
				w = p.weights[i]
			}
			fmt.Fprintf(&b, "    - %s:%d %s\n", s.Addr, w, serverName(s))
		}
	}
	return b.String()
}

// serverName names a server by its port, so that it keeps its name (and
// its place on the ketama ring) whatever else is in the list.
func serverName(s *testutil.Proc) string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return "r" + port
}

func mustParse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("reload.yml", []byte(yaml))
	require.NoError(t, err, yaml)
	applyTestScope(cfg)
	return cfg
}

func freeAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)) }

// pipeliner is a client that pipelines batches for as long as it runs and
// checks every reply: SET of its own keys (+OK), GET and MGET of keys set
// to known values on every server (so the reply does not depend on which
// server a reload routes them to), and PING.
type pipeliner struct {
	addr     string
	requests atomic.Int64
	errs     chan error
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startPipeliners(t *testing.T, addr string, n int) *pipeliner {
	pl := &pipeliner{addr: addr, errs: make(chan error, n), stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		pl.wg.Add(1)
		go pl.run(i)
	}
	t.Cleanup(pl.halt)
	return pl
}

func (pl *pipeliner) halt() {
	select {
	case <-pl.stop:
	default:
		close(pl.stop)
	}
	pl.wg.Wait()
}

func (pl *pipeliner) run(id int) {
	defer pl.wg.Done()
	c, err := net.DialTimeout("tcp", pl.addr, 5*time.Second)
	if err != nil {
		pl.errs <- err
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	var batch []byte
	for n := 0; ; n++ {
		select {
		case <-pl.stop:
			return
		default:
		}
		batch = batch[:0]
		const k = 20
		for j := 0; j < k; j++ {
			batch = append(batch, testutil.Command("SET", fmt.Sprintf("pl%d-%d-%d", id, n, j), "v")...)
		}
		batch = append(batch, testutil.Command("GET", "const1")...)
		batch = append(batch, testutil.Command("MGET", "const1", "const2", "const3")...)
		batch = append(batch, testutil.Command("PING")...)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(batch); err != nil {
			pl.errs <- fmt.Errorf("client %d: write: %w", id, err)
			return
		}
		want := make([]string, 0, k+3)
		for j := 0; j < k; j++ {
			want = append(want, "+OK\r\n")
		}
		want = append(want, "$2\r\nC1\r\n", "*3\r\n$2\r\nC1\r\n$2\r\nC2\r\n$2\r\nC3\r\n", "+PONG\r\n")
		for j, w := range want {
			r, err := testutil.ReadReply(br)
			if err != nil {
				pl.errs <- fmt.Errorf("client %d batch %d reply %d: %w", id, n, j, err)
				return
			}
			if string(r) != w {
				pl.errs <- fmt.Errorf("client %d batch %d reply %d: %q, want %q", id, n, j, r, w)
				return
			}
			pl.requests.Add(1)
		}
	}
}

// check stops the clients and fails the test on any client-visible error.
func (pl *pipeliner) check(t *testing.T) {
	t.Helper()
	pl.halt()
	close(pl.errs)
	for err := range pl.errs {
		t.Error(err)
	}
}

// setConsts gives every server the keys the pipeliners read.
func setConsts(t *testing.T, servers ...*testutil.Proc) {
	t.Helper()
	for _, s := range servers {
		for i := 1; i <= 3; i++ {
			_, err := testutil.RedisDo(s.Addr, "SET", fmt.Sprint("const", i), fmt.Sprint("C", i))
			require.NoError(t, err)
		}
	}
}

// waitRequests waits until the pipeliners have had n more replies.
func (pl *pipeliner) waitRequests(t *testing.T, n int64) {
	t.Helper()
	target := pl.requests.Load() + n
	require.Eventually(t, func() bool { return pl.requests.Load() >= target }, 20*time.Second, time.Millisecond,
		"the clients stalled")
}

// Servers added, reweighted and removed under 20 pipelining clients: not
// one client-visible error, and after each reload new keys land where the
// new ring puts them.
func TestReloadServersUnderLoad(t *testing.T) {
	servers := startRedises(t, 4)
	setConsts(t, servers...)
	listen := freeAddr(t)
	three := reloadPool{name: "alpha", listen: listen, servers: servers[:3]}
	p := startProxyYAML(t, reloadYAML(three), servers)
	pl := startPipeliners(t, p.addr, 20)
	pl.waitRequests(t, 2000)

	steps := []reloadPool{
		{name: "alpha", listen: listen, servers: servers},                                      // add r4
		{name: "alpha", listen: listen, servers: servers, weights: []int{1, 3, 1, 2}},          // weights
		{name: "alpha", listen: listen, servers: servers[1:]},                                  // remove r1
		{name: "alpha", listen: listen, servers: servers[:3], extra: []string{"hash: murmur"}}, // hash
	}
	for i, st := range steps {
		cfg := mustParse(t, reloadYAML(st))
		before := p.srv.Stats().Pools[0]
		res, err := p.srv.Reload(cfg)
		require.NoError(t, err, "step %d", i)
		// the counters of the pool, and of the servers that stay, go on
		after := p.srv.Stats().Pools[0]
		require.GreaterOrEqual(t, after.Requests, before.Requests, "step %d", i)
		for _, sa := range after.Servers {
			for _, sb := range before.Servers {
				if sa.Addr == sb.Addr {
					require.GreaterOrEqual(t, sa.Requests, sb.Requests, "step %d: %s", i, sa.Addr)
					require.Positive(t, sa.Requests, "step %d: %s", i, sa.Addr)
				}
			}
		}
		t.Logf("step %d: %v", i, res.Changes)
		pl.waitRequests(t, 2000)
		checkPlacement(t, p, cfg.Pools[0], servers)
	}
	pl.check(t)
}

// checkPlacement writes keys through the proxy and checks each is on the
// server the pool's new ring (built by the same backend code from the
// same config, the model ferry and nutcracker agree on) gives it.
func checkPlacement(t *testing.T, p *proxy, pc *config.Pool, all []*testutil.Proc) {
	t.Helper()
	model, err := backend.NewPool(pc, 1)
	require.NoError(t, err)
	c := p.client(t)
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("place-%s-%d", pc.Hash, i)
		v := fmt.Sprint(time.Now().UnixNano())
		require.NoError(t, c.Set(ctx, k, v, 0).Err())
		want := model.Servers[model.Pick([]byte(k))].Addr
		for _, s := range all {
			got, err := testutil.RedisDo(s.Addr, "GET", k)
			require.NoError(t, err)
			on := string(got) == fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
			require.Equal(t, s.Addr == want, on, "key %s: on %s? want it on %s", k, s.Addr, want)
		}
	}
}

// A server removed while requests to it wait (it is stopped): every one of
// them is answered by it once it resumes, and new requests go elsewhere.
func TestReloadRemovesServerWithRequestsInFlight(t *testing.T) {
	servers := startRedises(t, 2)
	listen := freeAddr(t)
	p := startProxyYAML(t, reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers}), servers)
	k := keyOn(t, p, 1, "inflight")
	mustDo(t, servers[1].Addr, "DEL", k)
	servers[1].Stop()
	conn := testutil.RawConn(t, p.addr)
	var batch []byte
	for i := 0; i < 100; i++ {
		batch = append(batch, testutil.Command("INCR", k)...)
	}
	conn.Send(batch)
	// the requests reach the stopped server's socket, then it is removed
	require.Eventually(t, func() bool { return inQueue(p, 0, servers[1].Addr) == 100 }, 5*time.Second, time.Millisecond)
	_, err := p.srv.Reload(mustParse(t, reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers[:1]})))
	require.NoError(t, err)
	// a new request for the key goes to the server that stays
	other := testutil.RawConn(t, p.addr)
	r, err := other.Do("SET", k, "new")
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(r))
	servers[1].Cont()
	for i := 1; i <= 100; i++ {
		r, err := conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf(":%d\r\n", i), string(r))
	}
	// and ferry's connections to the removed server (the ones that ran SET
	// and INCR; the test's own ran EXISTS and CLIENT) close once drained
	require.Eventually(t, func() bool {
		list := mustDo(t, servers[1].Addr, "CLIENT", "LIST")
		return !strings.Contains(list, "cmd=incr") && !strings.Contains(list, "cmd=set")
	}, 5*time.Second, 5*time.Millisecond)
}

// inQueue is the in_queue of the server at addr in pool pi.
func inQueue(p *proxy, pi int, addr string) int64 {
	for _, s := range p.srv.Stats().Pools[pi].Servers {
		if s.Addr == addr {
			return s.InQueue
		}
	}
	return -1
}

func mustDo(t *testing.T, addr string, args ...string) string {
	t.Helper()
	r, err := testutil.RedisDo(addr, args...)
	require.NoError(t, err)
	return string(r)
}

// Pools added, moved to another address and removed while serving.
func TestReloadPools(t *testing.T) {
	servers := startRedises(t, 2)
	setConsts(t, servers...)
	a1, a2, b1 := freeAddr(t), freeAddr(t), freeAddr(t)
	alpha := reloadPool{name: "alpha", listen: a1, servers: servers}
	p := startProxyYAML(t, reloadYAML(alpha), servers)
	pl := startPipeliners(t, a1, 4)
	pl.waitRequests(t, 500)

	// add beta
	beta := reloadPool{name: "beta", listen: b1, servers: servers[1:]}
	res, err := p.srv.Reload(mustParse(t, reloadYAML(alpha, beta)))
	require.NoError(t, err)
	require.Contains(t, res.Changes, "pool beta added, listening on "+b1)
	r, err := testutil.RawConn(t, b1).Do("PING")
	require.NoError(t, err)
	require.Equal(t, "+PONG\r\n", string(r))

	// beta: a client with a request in flight on a stopped server when
	// beta is removed gets its reply, then the close; b1 stops accepting
	kb := keyOn(t, &proxy{srv: p.srv, addr: b1, servers: servers[1:]}, 0, "beta")
	servers[1].Stop()
	inflight := testutil.RawConn(t, b1)
	inflight.SendCmd("INCR", kb+"-n")
	require.Eventually(t, func() bool { return inQueue(p, 1, servers[1].Addr) == 1 }, 5*time.Second, time.Millisecond)
	idle := testutil.RawConn(t, b1)
	_, err = idle.Do("PING")
	require.NoError(t, err)
	res, err = p.srv.Reload(mustParse(t, reloadYAML(alpha)))
	require.NoError(t, err)
	require.Contains(t, res.Changes, "pool beta removed")
	idle.ExpectClosed(2 * time.Second)
	_, err = net.DialTimeout("tcp", b1, time.Second)
	require.Error(t, err, "a removed pool's address stops accepting")
	servers[1].Cont()
	r, err = inflight.ReadReply()
	require.NoError(t, err)
	require.Equal(t, ":1\r\n", string(r))
	inflight.ExpectClosed(2 * time.Second)

	// alpha moves to a2: a2 serves, a1 refuses, alpha's clients stay
	res, err = p.srv.Reload(mustParse(t, reloadYAML(reloadPool{name: "alpha", listen: a2, servers: servers})))
	require.NoError(t, err)
	require.Contains(t, res.Changes, fmt.Sprintf("pool alpha: listen %s -> %s", a1, a2))
	r, err = testutil.RawConn(t, a2).Do("GET", "const1")
	require.NoError(t, err)
	require.Equal(t, "$2\r\nC1\r\n", string(r))
	_, err = net.DialTimeout("tcp", a1, time.Second)
	require.Error(t, err, "the old address stops accepting")
	pl.waitRequests(t, 500)
	pl.check(t)
}

// An invalid file changes nothing and says where it is wrong; a file that
// cannot be applied (its address is taken) changes nothing either.
func TestReloadRejectedChangesNothing(t *testing.T) {
	servers := startRedises(t, 2)
	setConsts(t, servers...)
	listen := freeAddr(t)
	good := reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers})
	p := startProxyYAML(t, good, servers)
	pl := startPipeliners(t, p.addr, 4)

	_, err := config.Parse("bad.yml", []byte(strings.Replace(good, "  redis: true", "  redis: true\n  hsh: md5", 1)))
	require.ErrorContains(t, err, `bad.yml:4: pool "alpha": key "hsh": unknown key`)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	cfg := mustParse(t, reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers[:1]},
		reloadPool{name: "beta", listen: taken.Addr().String(), servers: servers}))
	_, err = p.srv.Reload(cfg)
	require.ErrorContains(t, err, "address already in use")
	require.Len(t, p.srv.Stats().Pools, 1, "nothing changed")
	require.Len(t, p.srv.Stats().Pools[0].Servers, 2, "nothing changed")
	pl.waitRequests(t, 500)
	pl.check(t)
}

// 50 reloads in a row under load, alternating between two server lists:
// no client-visible error, and connections, goroutines and memory come
// back to where they were.
func TestReload50TimesUnderLoad(t *testing.T) {
	servers := startRedises(t, 3)
	setConsts(t, servers...)
	listen := freeAddr(t)
	a := reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers})
	b := reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers[:2]}, reloadPool{name: "beta", listen: freeAddr(t), servers: servers[2:]})
	p := startProxyYAML(t, a, servers)
	pl := startPipeliners(t, p.addr, 20)
	pl.waitRequests(t, 1000)
	conns := func() int64 {
		var n int64
		for _, ps := range p.srv.Stats().Pools {
			for _, s := range ps.Servers {
				n += s.ServerConnections
			}
		}
		return n
	}
	startConns, startG := conns(), runtime.NumGoroutine()
	var heap0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heap0)
	cfgA, cfgB := mustParse(t, a), mustParse(t, b)
	began := time.Now()
	for i := 0; i < 50; i++ {
		cfg := cfgB
		if i%2 == 1 {
			cfg = cfgA
		}
		_, err := p.srv.Reload(cfg)
		require.NoError(t, err, "reload %d", i)
		pl.waitRequests(t, 100)
	}
	pl.waitRequests(t, 20*2000) // thousands of requests per client in all
	t.Logf("50 reloads in %v under 20 pipelining clients; %d replies checked", time.Since(began), pl.requests.Load())
	pl.check(t)
	// (connections to a server that changed pools are dialled on demand,
	// so fewer than at the start may be open once the clients stop)
	require.Eventually(t, func() bool { return conns() <= startConns }, 5*time.Second, 10*time.Millisecond,
		"backend connections back to %d at most (now %d)", startConns, conns())
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= startG+2 }, 5*time.Second, 10*time.Millisecond,
		"goroutines back to %d (now %d)", startG, runtime.NumGoroutine())
	var heap1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heap1)
	require.Less(t, int64(heap1.HeapInuse)-int64(heap0.HeapInuse), int64(16<<20), "heap grew by reloads")
}
