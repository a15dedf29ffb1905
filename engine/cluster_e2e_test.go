package engine_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/backend/cluster"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// clusterYAML is a redis_cluster pool over the seeds, with extra lines.
func clusterYAML(listen string, seeds []string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "alpha:\n  listen: %s\n  redis: true\n  distribution: redis_cluster\n", listen)
	for _, e := range extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	b.WriteString("  servers:\n")
	for _, s := range seeds {
		fmt.Fprintf(&b, "    - %s:1\n", s)
	}
	return b.String()
}

func startClusterProxy(t testing.TB, c *testutil.Cluster, extra ...string) *proxy {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return startProxyYAML(t, clusterYAML(listen, c.Addrs(), extra...), c.Nodes)
}

// nodeOf is the node that serves key's slot at the cluster's start.
func nodeOf(c *testutil.Cluster, key string) *testutil.Proc {
	s := int(cluster.Slot([]byte(key)))
	for i, r := range c.SlotRanges {
		if s >= r[0] && s <= r[1] {
			return c.Nodes[i]
		}
	}
	panic("slot not covered")
}

func TestClusterSlotRule(t *testing.T) {
	assert.Equal(t, uint16(12182), cluster.Slot([]byte("foo")))
	assert.Equal(t, cluster.Slot([]byte("bar")), cluster.Slot([]byte("{bar}.x")))
	assert.Equal(t, cluster.Slot([]byte("{}x")), cluster.Slot([]byte("{}x")))
	assert.NotEqual(t, cluster.Slot([]byte("x")), cluster.Slot([]byte("{}x")), "an empty tag hashes the whole key")
}

// A plain client through ferry uses a 3-master cluster: every key lands on
// the node that owns its slot; cross-slot multi-key commands are split and
// merged; same-server commands need one slot.
func TestClusterPlainClient(t *testing.T) {
	c := testutil.StartRedisCluster(t, 3)
	p := startClusterProxy(t, c, "timeout: 5000")
	cl := p.client(t)
	ctx := context.Background()

	for i := range 300 {
		k, v := "key:"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		require.NoError(t, cl.Set(ctx, k, v, 0).Err())
		got, err := cl.Get(ctx, k).Result()
		require.NoError(t, err)
		require.Equal(t, v, got)
		own, err := testutil.RedisDo(nodeOf(c, k).Addr, "GET", k)
		require.NoError(t, err)
		require.Equal(t, "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n", string(own), "key %s on the node of its slot", k)
	}

	// Cross-slot MSET / MGET / EXISTS / DEL, every reply checked.
	var kv []any
	var keys []string
	for i := range 50 {
		k := "multi:" + strconv.Itoa(i)
		keys = append(keys, k)
		kv = append(kv, k, "m"+strconv.Itoa(i))
	}
	require.NoError(t, cl.MSet(ctx, kv...).Err())
	vals, err := cl.MGet(ctx, append(keys, "multi:missing")...).Result()
	require.NoError(t, err)
	require.Len(t, vals, 51)
	for i := range 50 {
		require.Equal(t, "m"+strconv.Itoa(i), vals[i])
	}
	require.Nil(t, vals[50])
	n, err := cl.Exists(ctx, append(keys, "multi:missing", keys[0])...).Result()
	require.NoError(t, err)
	require.Equal(t, int64(51), n)
	n, err = cl.Del(ctx, keys[:25]...).Result()
	require.NoError(t, err)
	require.Equal(t, int64(25), n)
	n, err = cl.Unlink(ctx, keys...).Result()
	require.NoError(t, err)
	require.Equal(t, int64(25), n)
	n, err = cl.Exists(ctx, keys...).Result()
	require.NoError(t, err)
	require.Zero(t, n)

	// One slot: runs. Several: CROSSSLOT, as Redis answers.
	require.NoError(t, cl.Set(ctx, "{u1}.a", "x", 0).Err())
	require.NoError(t, cl.Rename(ctx, "{u1}.a", "{u1}.b").Err())
	require.Equal(t, "x", cl.Get(ctx, "{u1}.b").Val())
	err = cl.Rename(ctx, "{u1}.b", "other").Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "CROSSSLOT")
	r, err := cl.Eval(ctx, "return redis.call('get', KEYS[1])", []string{"{u1}.b", "{u1}.c"}).Result()
	require.NoError(t, err)
	require.Equal(t, "x", r)
	err = cl.Eval(ctx, "return 1", []string{"a", "b"}).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "CROSSSLOT")

	// A reload that keeps the pool's connections keeps its map: no wait.
	m := p.srv.Pools()[0].SlotMap()
	require.NotNil(t, m)
	cfg, err := config.Parse("test.yml", []byte(clusterYAML(p.addr, c.Addrs()[:1], "timeout: 4000")))
	require.NoError(t, err)
	_, err = p.srv.Reload(cfg)
	require.NoError(t, err)
	require.Same(t, m, p.srv.Pools()[0].SlotMap())
	require.Equal(t, "x", cl.Get(ctx, "{u1}.b").Val())

	// A 3,000-command pipeline over every node, in order.
	pipe := cl.Pipeline()
	cmds := make([]redis.Cmder, 0, 3000)
	for i := range 1000 {
		k := "pipe:" + strconv.Itoa(i)
		cmds = append(cmds, pipe.Set(ctx, k, i, 0), pipe.Incr(ctx, k), pipe.Get(ctx, k))
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	for i := range 1000 {
		require.Equal(t, "OK", cmds[3*i].(*redis.StatusCmd).Val())
		require.Equal(t, int64(i+1), cmds[3*i+1].(*redis.IntCmd).Val())
		require.Equal(t, strconv.Itoa(i+1), cmds[3*i+2].(*redis.StringCmd).Val())
	}
}

// nodeID is a node's cluster id.
func nodeID(t *testing.T, addr string) string {
	r, err := testutil.RedisDo(addr, "CLUSTER", "MYID")
	require.NoError(t, err)
	s := string(r)
	return strings.TrimSpace(s[strings.Index(s, "\n")+1:])
}

func redisOK(t *testing.T, addr string, args ...string) {
	t.Helper()
	r, err := testutil.RedisDo(addr, args...)
	require.NoError(t, err)
	require.Equal(t, "+OK\r\n", string(r), "%s %v", addr, args)
}

// A slot migrated by hand (IMPORTING / MIGRATING, MIGRATE in batches,
// SETSLOT NODE) while clients write and read keys in it: ASK and MOVED are
// followed, no client sees an error, and no INCR is lost or doubled.
func TestClusterSlotMigration(t *testing.T) {
	c := testutil.StartRedisCluster(t, 3)
	p := startClusterProxy(t, c, "timeout: 5000")
	ctx := context.Background()
	const tag = "{mig}"
	slot := int(cluster.Slot([]byte(tag)))
	src := nodeOf(c, tag)
	var dst *testutil.Proc
	for _, n := range c.Nodes {
		if n != src {
			dst = n
			break
		}
	}
	srcID, dstID := nodeID(t, src.Addr), nodeID(t, dst.Addr)

	// Keys in the slot before the move, so that MIGRATE has work to do.
	seed := p.client(t)
	for i := range 200 {
		require.NoError(t, seed.Set(ctx, tag+"pre:"+strconv.Itoa(i), "x", 0).Err())
	}

	const workers = 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	counts := make([]atomic.Int64, workers)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := p.client(t)
			key := tag + "ctr:" + strconv.Itoa(w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A cross-slot MSET and MGET too: their fragment for the
				// slot on the move is redirected on its own.
				pipe := cl.Pipeline()
				incr := pipe.Incr(ctx, key)
				get := pipe.Get(ctx, tag+"pre:"+strconv.Itoa(w))
				round := strconv.FormatInt(counts[w].Load(), 10)
				mk := []string{tag + "m:" + strconv.Itoa(w), "other:" + strconv.Itoa(w), "third:" + strconv.Itoa(w)}
				pipe.MSet(ctx, mk[0], round, mk[1], round, mk[2], round)
				mget := pipe.MGet(ctx, mk...)
				if _, err := pipe.Exec(ctx); err != nil {
					errs <- fmt.Errorf("worker %d after %d INCRs: %w", w, counts[w].Load(), err)
					return
				}
				n := counts[w].Add(1)
				if incr.Val() != n || get.Val() != "x" {
					errs <- fmt.Errorf("worker %d: INCR %d, want %d; GET %q", w, incr.Val(), n, get.Val())
					return
				}
				if v := mget.Val(); len(v) != 3 || v[0] != round || v[1] != round || v[2] != round {
					errs <- fmt.Errorf("worker %d: MGET %v, want %s x3", w, v, round)
					return
				}
			}
		}()
	}
	waitCounts := func(min int64) {
		require.Eventually(t, func() bool {
			for w := range workers {
				if len(errs) > 0 {
					return true
				}
				if counts[w].Load() < min {
					return false
				}
			}
			return true
		}, 20*time.Second, time.Millisecond)
	}
	waitCounts(50)

	s := strconv.Itoa(slot)
	redisOK(t, dst.Addr, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID)
	redisOK(t, src.Addr, "CLUSTER", "SETSLOT", s, "MIGRATING", dstID)
	moved := 0
	for {
		r, err := testutil.RedisDo(src.Addr, "CLUSTER", "GETKEYSINSLOT", s, "20")
		require.NoError(t, err)
		ks := bulkStrings(string(r))
		if len(ks) == 0 {
			break
		}
		args := []string{"MIGRATE", testutil.Loopback, strconv.Itoa(dst.Port), "", "0", "5000", "KEYS"}
		r, err = testutil.RedisDo(src.Addr, append(args, ks...)...)
		require.NoError(t, err)
		require.Contains(t, []string{"+OK\r\n", "+NOKEY\r\n"}, string(r))
		moved += len(ks)
		time.Sleep(5 * time.Millisecond) // let requests meet the half-moved slot
	}
	for _, n := range []*testutil.Proc{dst, src} {
		redisOK(t, n.Addr, "CLUSTER", "SETSLOT", s, "NODE", dstID)
	}
	for _, n := range c.Nodes {
		if n != src && n != dst {
			redisOK(t, n.Addr, "CLUSTER", "SETSLOT", s, "NODE", dstID)
		}
	}
	waitCounts(counts[0].Load() + 50) // traffic after the move, routed by the new map
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.GreaterOrEqual(t, moved, 200)
	for w := range workers {
		r, err := testutil.RedisDo(dst.Addr, "GET", tag+"ctr:"+strconv.Itoa(w))
		require.NoError(t, err)
		want := strconv.FormatInt(counts[w].Load(), 10)
		require.Equal(t, "$"+strconv.Itoa(len(want))+"\r\n"+want+"\r\n", string(r), "worker %d: INCRs neither lost nor doubled", w)
	}
	st := p.srv.Stats().Pools[0]
	t.Logf("%d keys moved; %d MOVED and %d ASK followed; INCRs by worker 0: %d", moved, st.Moved, st.Asked, counts[0].Load())
	require.Positive(t, st.Moved+st.Asked, "the migration was seen by the clients' requests")
	// The map followed: the slot is routed to its new owner without a redirect.
	require.Eventually(t, func() bool {
		m := p.srv.Pools()[0].SlotMap()
		return m != nil && m.Masters[m.Owner[slot]] == dst.Addr
	}, 15*time.Second, 10*time.Millisecond)
}

// bulkStrings reads the elements of a flat array of bulk strings.
func bulkStrings(r string) []string {
	lines := strings.Split(strings.TrimSuffix(r, "\r\n"), "\r\n")
	var out []string
	for i := 1; i+1 < len(lines); i += 2 {
		out = append(out, lines[i+1])
	}
	return out
}

// With every seed unreachable at start, requests wait for the first slot
// map, and go through once a seed answers.
func TestClusterSeedsDownAtStart(t *testing.T) {
	c := testutil.StartRedisCluster(t, 3)
	for _, n := range c.Nodes {
		n.Stop()
	}
	p := startClusterProxy(t, c, "timeout: 8000")
	cl := p.client(t)
	ctx := context.Background()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		if err := cl.Set(ctx, "late", "v", 0).Err(); err != nil {
			done <- err
			return
		}
		v, err := cl.Get(ctx, "late").Result()
		if err == nil && v != "v" {
			err = fmt.Errorf("GET late = %q", v)
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("answered before any seed was up: %v", err)
	case <-time.After(time.Second):
	}
	for _, n := range c.Nodes {
		n.Cont()
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("no reply after the seeds came back")
	}
	require.Greater(t, time.Since(start), time.Second)
	require.NoError(t, c.WaitOK(10*time.Second))
}

// With no seed at all, a request waits the pool timeout, then gets an error
// that says why.
func TestClusterNoSeed(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	dead := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := startProxyYAML(t, clusterYAML(listen, []string{dead}, "timeout: 300"), nil)
	cl := p.client(t)
	start := time.Now()
	err := cl.Get(context.Background(), "k").Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "slot map is not known yet")
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
}

// clusterLoad runs clients pipelining INCRs (each on keys of its own, spread
// over every slot range) and SET/GETs through p until stop is closed; every
// reply is checked. counts[w][k] is how many INCRs of client w's key k were
// answered.
type clusterLoad struct {
	wg     sync.WaitGroup
	stop   chan struct{}
	errs   chan error
	counts [][]int64
	rounds []int64 // pipelines completed, per client (read with mu)
	mu     sync.Mutex
}

const loadKeys = 16

func startClusterLoad(t *testing.T, p *proxy, clients, depth int) *clusterLoad {
	l := &clusterLoad{stop: make(chan struct{}), errs: make(chan error, clients),
		counts: make([][]int64, clients), rounds: make([]int64, clients)}
	ctx := context.Background()
	for w := range clients {
		l.counts[w] = make([]int64, loadKeys)
		cl := p.client(t)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for round := 0; ; round++ {
				select {
				case <-l.stop:
					return
				default:
				}
				pipe := cl.Pipeline()
				incrs := make([]*redis.IntCmd, depth)
				keys := make([]int, depth)
				gets := make([]*redis.StringCmd, depth)
				for i := range depth {
					keys[i] = (round*depth + i) % loadKeys
					incrs[i] = pipe.Incr(ctx, fmt.Sprintf("load:%d:%d", w, keys[i]))
					v := fmt.Sprintf("%d-%d", w, round)
					pipe.Set(ctx, fmt.Sprintf("val:%d:%d", w, i), v, 0)
					gets[i] = pipe.Get(ctx, fmt.Sprintf("val:%d:%d", w, i))
				}
				if _, err := pipe.Exec(ctx); err != nil {
					l.errs <- fmt.Errorf("client %d round %d: %w", w, round, err)
					return
				}
				for i := range depth {
					l.counts[w][keys[i]]++
					if incrs[i].Val() != l.counts[w][keys[i]] {
						l.errs <- fmt.Errorf("client %d: INCR load:%d:%d = %d, want %d", w, w, keys[i], incrs[i].Val(), l.counts[w][keys[i]])
						return
					}
					if want := fmt.Sprintf("%d-%d", w, round); gets[i].Val() != want {
						l.errs <- fmt.Errorf("client %d: GET = %q, want %q", w, gets[i].Val(), want)
						return
					}
				}
				l.mu.Lock()
				l.rounds[w]++
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// waitRounds waits until every client has completed n more pipelines, or
// one failed.
func (l *clusterLoad) waitRounds(t *testing.T, n int64) {
	l.mu.Lock()
	base := slices.Clone(l.rounds)
	l.mu.Unlock()
	require.Eventually(t, func() bool {
		if len(l.errs) > 0 {
			return true
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for w, r := range l.rounds {
			if r < base[w]+n {
				return false
			}
		}
		return true
	}, 60*time.Second, 5*time.Millisecond)
}

// finish stops the load and reports the errors clients saw.
func (l *clusterLoad) finish(t *testing.T) []error {
	close(l.stop)
	l.wg.Wait()
	close(l.errs)
	var errs []error
	for err := range l.errs {
		errs = append(errs, err)
	}
	return errs
}

// checkCounts reads every counter back from the cluster through a fresh
// client: no INCR lost or doubled.
func (l *clusterLoad) checkCounts(t *testing.T, p *proxy) {
	cl := p.client(t)
	ctx := context.Background()
	for w := range l.counts {
		for k, want := range l.counts[w] {
			got, err := cl.Get(ctx, fmt.Sprintf("load:%d:%d", w, k)).Int64()
			if want == 0 {
				continue
			}
			require.NoError(t, err)
			require.Equal(t, want, got, "load:%d:%d", w, k)
		}
	}
}

// redis-cli --cluster reshard moves 1,000 slots while 50 clients pipeline
// INCRs, SETs and GETs through ferry: no client sees an error, and no INCR
// is lost or doubled.
func TestClusterReshardUnderLoad(t *testing.T) {
	testutil.RequireBinary(t, "redis-cli")
	c := testutil.StartRedisCluster(t, 3)
	p := startClusterProxy(t, c, "timeout: 5000")
	load := startClusterLoad(t, p, 50, 8)
	load.waitRounds(t, 5)
	from, to := nodeID(t, c.Nodes[0].Addr), nodeID(t, c.Nodes[1].Addr)
	start := time.Now()
	out, err := exec.Command("redis-cli", "--cluster", "reshard", c.Nodes[0].Addr,
		"--cluster-from", from, "--cluster-to", to, "--cluster-slots", "1000",
		"--cluster-yes", "--cluster-pipeline", "10").CombinedOutput()
	require.NoError(t, err, "%s", lastLines(string(out), 20))
	took := time.Since(start)
	load.waitRounds(t, 5)
	errs := load.finish(t)
	for _, err := range errs {
		t.Error(err)
	}
	st := p.srv.Stats().Pools[0]
	var total int64
	for _, cs := range load.counts {
		for _, n := range cs {
			total += n
		}
	}
	t.Logf("reshard of 1000 slots took %v under 50 clients (pipelines of 8 INCR+SET+GET): %d INCRs, %d MOVED and %d ASK followed, %d client errors",
		took, total, st.Moved, st.Asked, len(errs))
	load.checkCounts(t, p)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// A master is killed under 50 pipelining clients: the requests in flight on
// it fail with an error; those that come for its slots while it is down are
// held (up to the pool timeout) and go to its replica once promoted, so a
// client loses at most what it had in flight. ferry learns the new
// master from the map reads the failures ask for, not the 10 s refresh.
func TestClusterFailoverUnderLoad(t *testing.T) {
	c := testutil.StartRedisClusterReplicas(t, 3, 1, "--cluster-node-timeout", "1000")
	p := startClusterProxy(t, c, "timeout: 6000")
	ctx := context.Background()
	const clients, depth = 50, 8
	var (
		mu        sync.Mutex
		failed    int64
		lastErr   time.Time
		firstErr  string
		lastMsg   string
		okAfter   = make([]time.Time, clients) // last successful pipeline
		wg        sync.WaitGroup
		stop      = make(chan struct{})
		succeeded atomic.Int64
	)
	for w := range clients {
		cl := p.client(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				pipe := cl.Pipeline()
				for i := range depth {
					pipe.Incr(ctx, fmt.Sprintf("fo:%d:%d", w, (round*depth+i)%loadKeys))
				}
				cmds, _ := pipe.Exec(ctx)
				var bad int64
				var msg string
				for _, cmd := range cmds {
					if err := cmd.Err(); err != nil {
						bad++
						msg = err.Error()
					}
				}
				now := time.Now()
				mu.Lock()
				if bad > 0 {
					failed += bad
					lastErr, lastMsg = now, msg
					if firstErr == "" {
						firstErr = msg
					}
				} else {
					okAfter[w] = now
				}
				mu.Unlock()
				if bad > 0 {
					time.Sleep(5 * time.Millisecond) // as a client backs off
				} else {
					succeeded.Add(depth)
				}
			}
		}()
	}
	require.Eventually(t, func() bool { return succeeded.Load() > 20000 }, 30*time.Second, time.Millisecond)

	victim, heir := c.Nodes[0], c.Replicas[0]
	killedAt := time.Now()
	victim.Kill()
	var promotedAt time.Time
	require.Eventually(t, func() bool {
		info, err := testutil.RedisDo(heir.Addr, "INFO", "replication")
		if err == nil && strings.Contains(string(info), "role:master") {
			promotedAt = time.Now()
			return true
		}
		return false
	}, 30*time.Second, 5*time.Millisecond)
	// Every client succeeds again after the promotion.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, at := range okAfter {
			if !at.After(promotedAt.Add(100 * time.Millisecond)) {
				return false
			}
		}
		return true
	}, 30*time.Second, 5*time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	recovered := lastErr.Sub(promotedAt)
	t.Logf("master killed under %d clients (pipelines of %d INCRs): promoted after %v; %d requests failed (first error: %s); last error %v after the promotion (%s); %d requests succeeded",
		clients, depth, promotedAt.Sub(killedAt).Round(time.Millisecond), failed, firstErr, recovered.Round(time.Millisecond), lastMsg, succeeded.Load())
	require.Less(t, recovered, time.Second, "clients succeed again soon after the cluster has a new master")
	// In flight: the pipeline a client had out when the master died, and
	// one more where the client's loop had not yet seen its connection to
	// the master close (the other loop had: it sent on a dead socket).
	require.LessOrEqual(t, failed, int64(2*clients*depth), "at most what was in flight on the master")
	m := p.srv.Pools()[0].SlotMap()
	require.Contains(t, m.Masters, heir.Addr)
	require.NotContains(t, m.Masters, victim.Addr)
}

// Both at once: cluster emulation in front of a redis_cluster pool. A
// cluster-aware client sees ferry as the whole cluster; ferry routes every
// key to the real node that owns its slot.
func TestClusterEmulationInFrontOfClusterPool(t *testing.T) {
	c := testutil.StartRedisCluster(t, 3)
	p := startClusterProxy(t, c, "cluster_emulation: true")
	cc := clusterClient(t, p.addr)
	writeAndReadBack(t, cc, "both", 200)
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("both:%d", i)
		r, err := testutil.RedisDo(nodeOf(c, k).Addr, "EXISTS", k)
		require.NoError(t, err)
		require.Equal(t, ":1\r\n", string(r), "key %s on the node of its slot", k)
	}
}
