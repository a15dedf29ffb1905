package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Cluster emulation end to end: real cluster clients (go-redis
// ClusterClient, redis-cli -c, redis-py RedisCluster) against one ferry and
// a fleet of two, in front of real redis-servers.

// fleetMember is an in-process ferry with cluster emulation that a test may
// stop before its cleanup does.
type fleetMember struct {
	srv  *engine.Server
	addr string
	once sync.Once
}

func (m *fleetMember) stop(t testing.TB) {
	m.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, m.srv.Stop(ctx))
	})
}

// clients is the member's client connections now (a peer's probe is one).
func (m *fleetMember) clients() int64 { return m.srv.Stats().Pools[0].ClientConnections }

// requests is the requests the member has received.
func (m *fleetMember) requests() uint64 { return m.srv.Stats().Pools[0].Requests }

// emuYAML is a redis pool with cluster emulation on listen, over servers.
func emuYAML(listen string, servers []*testutil.Proc, peers ...string) string {
	extra := []string{"cluster_emulation: true", "timeout: 2000"}
	if len(peers) > 0 {
		extra = append(extra, "cluster_peers: ["+strings.Join(peers, ", ")+"]")
	}
	return poolYAML(listen, servers, extra...)
}

// startMember starts a ferry from yaml (its first pool's listen is its
// address). Unlike startProxy it does not wait for zero clients: a peer's
// probe may be connected at any time.
func startMember(t *testing.T, yaml string) *fleetMember {
	t.Helper()
	cfg := mustParse(t, yaml)
	srv, err := engine.New(cfg, engine.Options{Threads: 2, Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	require.NoError(t, srv.Err())
	m := &fleetMember{srv: srv, addr: cfg.Pools[0].Listen}
	t.Cleanup(func() { m.stop(t) })
	require.NoError(t, testutil.WaitForPort(m.addr, 5*time.Second))
	return m
}

// slotOwners is CLUSTER SLOTS from addr as "lo-hi@host:port" entries.
func slotOwners(addr string) ([]string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIndentity: true, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range slots {
		out = append(out, fmt.Sprintf("%d-%d@%s", s.Start, s.End, s.Nodes[0].Addr))
	}
	return out, nil
}

// waitSlotOwners polls addr's CLUSTER SLOTS until it is want and returns
// how long that took.
func waitSlotOwners(t *testing.T, addr string, want []string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got []string
	var err error
	for time.Since(start) < within {
		if got, err = slotOwners(addr); err == nil && strings.Join(got, " ") == strings.Join(want, " ") {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: CLUSTER SLOTS is %v (err %v) after %v, want %v", addr, got, err, within, want)
	return 0
}

func clusterClient(t *testing.T, addrs ...string) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// writeAndReadBack writes n keys spread over all slots through c (SET, and
// MSET across slots), then reads them back with GET and a cross-slot MGET.
func writeAndReadBack(t *testing.T, c *redis.ClusterClient, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", prefix, i)
		require.NoError(t, c.Set(ctx, keys[i], "v"+keys[i], 0).Err(), keys[i])
	}
	for _, k := range keys {
		v, err := c.Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, "v"+k, v)
	}
	// ferry serves a cross-slot MGET/MSET whole (a real cluster says
	// CROSSSLOT): the client sends it to the first key's node.
	require.NoError(t, c.MSet(ctx, prefix+":m1", "1", prefix+":m2", "2", prefix+":m3", "3").Err())
	vals, err := c.MGet(ctx, append([]string{prefix + ":m1", prefix + ":m2", prefix + ":m3"}, keys[:10]...)...).Result()
	require.NoError(t, err)
	require.Equal(t, "1", vals[0])
	require.Equal(t, "2", vals[1])
	require.Equal(t, "3", vals[2])
	for i, k := range keys[:10] {
		require.Equal(t, "v"+k, vals[3+i])
	}
}

func TestClusterEmulationOneFerry(t *testing.T) {
	servers := startRedises(t, 2)
	m := startMember(t, emuYAML(fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), servers))
	ctx := context.Background()

	slots, err := slotOwners(m.addr)
	require.NoError(t, err)
	require.Equal(t, []string{"0-16383@" + m.addr}, slots, "one ferry: master of every slot")

	c := clusterClient(t, m.addr)
	writeAndReadBack(t, c, "one", 300)

	// the replies real clients parse, through go-redis's own parsers
	plain := redis.NewClient(&redis.Options{Addr: m.addr, Protocol: 2, DisableIndentity: true})
	defer plain.Close()
	nodes, err := plain.ClusterNodes(ctx).Result()
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{40} `+m.addr+`@0 myself,master - 0 0 \d+ connected 0-16383\n$`, nodes)
	info, err := plain.ClusterInfo(ctx).Result()
	require.NoError(t, err)
	assert.Contains(t, info, "cluster_state:ok\r\n")
	assert.Contains(t, info, "cluster_known_nodes:1\r\n")
	slot, err := plain.ClusterKeySlot(ctx, "foo").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 12182, slot)
	slot, err = plain.ClusterKeySlot(ctx, "{user1000}.following").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 3443, slot)
	_, err = plain.ClusterCountKeysInSlot(ctx, 7).Result()
	assert.ErrorContains(t, err, "not sharded by slot")
	_, err = plain.ClusterCountKeysInSlot(ctx, 16384).Result()
	assert.ErrorContains(t, err, "Invalid or out of range slot")
	shards, err := plain.ClusterShards(ctx).Result()
	require.NoError(t, err)
	require.Len(t, shards, 1)
	assert.Equal(t, []redis.SlotRange{{Start: 0, End: 16383}}, shards[0].Slots)
	assert.Equal(t, "master", shards[0].Nodes[0].Role)
	myid, err := plain.Do(ctx, "CLUSTER", "MYID").Text()
	require.NoError(t, err)
	assert.Contains(t, nodes, myid+" ")
	for _, cmd := range []string{"READONLY", "READWRITE", "ASKING"} {
		assert.NoError(t, plain.Do(ctx, cmd).Err(), cmd)
	}
	cmds, err := plain.Command(ctx).Result()
	require.NoError(t, err)
	require.NotNil(t, cmds["mset"])
	assert.Equal(t, cmds["mset"].FirstKeyPos, int8(1))
	assert.Equal(t, cmds["mset"].LastKeyPos, int8(-1))
	assert.Equal(t, cmds["mset"].StepCount, int8(2))
	assert.True(t, cmds["get"].ReadOnly)
	n, err := plain.Do(ctx, "COMMAND", "COUNT").Int()
	require.NoError(t, err)
	assert.Equal(t, len(cmds), n)
	assert.Contains(t, cmds["zunionstore"].Flags, "movablekeys")
	infos, err := plain.Do(ctx, "COMMAND", "INFO", "get", "nosuchcommand").Slice()
	require.NoError(t, err)
	require.Len(t, infos, 2)
	assert.Equal(t, "get", infos[0].([]any)[0])
	assert.Nil(t, infos[1])
	keys, err := plain.CommandGetKeys(ctx, "zunionstore", "dst", "2", "a", "b").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"dst", "a", "b"}, keys)
	keys, err = plain.CommandGetKeys(ctx, "mset", "a", "1", "b", "2").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, keys)
	_, err = plain.CommandGetKeys(ctx, "ping").Result()
	assert.ErrorContains(t, err, "no key arguments")
	_, err = plain.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", "1").Result()
	assert.ErrorContains(t, err, "not supported by cluster emulation")
}

func TestClusterEmulationOff(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers)
	c := p.client(t)
	ctx := context.Background()
	for _, args := range [][]any{{"CLUSTER", "SLOTS"}, {"CLUSTER", "KEYSLOT", "foo"}, {"READONLY"}, {"ASKING"}} {
		err := c.Do(ctx, args...).Err()
		assert.ErrorContains(t, err, "is not supported by the proxy", "%v", args)
	}
	n, err := c.Do(ctx, "COMMAND").Slice()
	require.NoError(t, err)
	assert.Empty(t, n, "COMMAND stays an empty list without emulation")
}

// TestClusterEmulationFleet: a go-redis ClusterClient seeded with one member
// of a fleet of two spreads its connections over both, reads back all it
// wrote, and carries on when a member stops.
func TestClusterEmulationFleet(t *testing.T) {
	servers := startRedises(t, 2)
	addrA := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	addrB := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	a := startMember(t, emuYAML(addrA, servers, addrB))
	b := startMember(t, emuYAML(addrB, servers, addrA))
	lo, hi := addrA, addrB
	if hi < lo {
		lo, hi = hi, lo
	}
	both := []string{"0-8191@" + lo, "8192-16383@" + hi}
	waitSlotOwners(t, addrA, both, 5*time.Second)
	waitSlotOwners(t, addrB, both, 5*time.Second)
	// each member holds one client connection now: its peer's probe
	require.Eventually(t, func() bool { return a.clients() == 1 && b.clients() == 1 }, 5*time.Second, 5*time.Millisecond,
		"clients: a %d, b %d", a.clients(), b.clients())

	c := clusterClient(t, addrA)
	reqA, reqB := a.requests(), b.requests()
	writeAndReadBack(t, c, "fleet", 400)
	// The spread, seen from both sides: the client holds connections to
	// both members, and each member served a good share of the requests (a
	// peer's probe is 4 PINGs a second). Connection counts on the members
	// are logged only: a probe that timed out once under load is
	// reconnected on the next round.
	conns := map[string]uint32{}
	var mu sync.Mutex
	require.NoError(t, c.ForEachMaster(context.Background(), func(_ context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		conns[m.Options().Addr] = m.PoolStats().TotalConns
		return nil
	}))
	t.Logf("the client's connections per member %v; members' client connections: a %d, b %d (with the peer's probe); requests served: a %d, b %d",
		conns, a.clients(), b.clients(), a.requests()-reqA, b.requests()-reqB)
	assert.Positive(t, conns[addrA], "the cluster client connected to a")
	assert.Positive(t, conns[addrB], "the cluster client connected to b")
	assert.Greater(t, a.requests()-reqA, uint64(200), "a served its slots' keys")
	assert.Greater(t, b.requests()-reqB, uint64(200), "b served its slots' keys")
	assert.Positive(t, a.clients())
	assert.Positive(t, b.clients())
	// every member serves every key: what went through a is read through b
	ctx := context.Background()
	for _, m := range []*fleetMember{a, b} {
		plain := redis.NewClient(&redis.Options{Addr: m.addr, Protocol: 2, DisableIndentity: true})
		for i := range 400 {
			k := fmt.Sprintf("fleet:%d", i)
			v, err := plain.Get(ctx, k).Result()
			require.NoError(t, err, k)
			require.Equal(t, "v"+k, v)
		}
		_ = plain.Close()
	}

	// b stops: a drops it from its map within the probe bound, and the
	// client carries on through a.
	// b stops answering somewhere inside Stop: the drop's latency lies
	// between the time from Stop's return and the time from its start.
	stopped := time.Now()
	b.stop(t)
	stopTook := time.Since(stopped)
	took := waitSlotOwners(t, addrA, []string{"0-16383@" + addrA}, 3*time.Second)
	t.Logf("a dropped b from its map %v after b's Stop returned (%v after it began)", took, time.Since(stopped))
	assert.Less(t, took, time.Second, "probe bound is 700 ms (Stop took %v)", stopTook)

	// go-redis keeps sending b's slots to b until it reloads its map: on
	// MOVED, or when the map is 10 s old (a dead node gives neither sooner).
	var firstOK time.Duration
	errs := 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		k := fmt.Sprintf("after:%d", i)
		err := c.Set(ctx, k, "x", 0).Err()
		if err == nil {
			var v string
			v, err = c.Get(ctx, k).Result()
			if err == nil && v != "x" {
				err = fmt.Errorf("%s = %q", k, v)
			}
		}
		if err != nil {
			errs++
			firstOK = 0
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if firstOK == 0 {
			firstOK = time.Since(stopped)
		}
		if i >= 200 && time.Since(stopped) > firstOK+time.Second {
			break // a second of uninterrupted success
		}
	}
	require.NotZero(t, firstOK, "the client never recovered")
	t.Logf("after b stopped: %d failed operations, writes and reads succeed again %v after", errs, firstOK)
	assert.Less(t, firstOK, 15*time.Second, "go-redis's map refresh (10 s) plus its retries")
	writeAndReadBack(t, c, "afterstop", 100)

	// b comes back on the same address: both maps have it again
	b2 := startMember(t, emuYAML(addrB, servers, addrA))
	took = waitSlotOwners(t, addrA, both, 3*time.Second)
	t.Logf("a took b back %v after b listened again", took)
	waitSlotOwners(t, b2.addr, both, 3*time.Second)
}

// TestClusterEmulationPeerProbe: a peer that accepts but never answers
// (frozen) is dropped on the probe timeout, and comes back once it
// answers PING.
func TestClusterEmulationPeerProbe(t *testing.T) {
	servers := startRedises(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var answer sync.WaitGroup // Done: the fake peer starts answering
	answer.Add(1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				answer.Wait()
				rd := bufio.NewReader(c)
				for {
					if _, err := rd.ReadString('\n'); err != nil {
						return
					}
					line, _ := rd.ReadString('\n') // "$4"
					if !strings.HasPrefix(line, "$") {
						continue
					}
					if _, err := rd.ReadString('\n'); err != nil { // "PING"
						return
					}
					if _, err := c.Write([]byte("+PONG\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	peer := ln.Addr().String()
	self := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	start := time.Now()
	m := startMember(t, emuYAML(self, servers, peer))
	took := waitSlotOwners(t, m.addr, []string{"0-16383@" + self}, 3*time.Second)
	t.Logf("a frozen peer was dropped %v after start", time.Since(start))
	assert.Less(t, took, 1500*time.Millisecond)
	answer.Done()
	lo, hi := self, peer
	if hi < lo {
		lo, hi = hi, lo
	}
	took = waitSlotOwners(t, m.addr, []string{"0-8191@" + lo, "8192-16383@" + hi}, 3*time.Second)
	t.Logf("the peer came back %v after it answered", took)
}

// TestClusterEmulationReload: the announced map follows a reloaded
// cluster_peers, and emulation can be turned off by a reload.
func TestClusterEmulationReload(t *testing.T) {
	servers := startRedises(t, 1)
	addrA := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	addrB := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	a := startMember(t, emuYAML(addrA, servers))
	startMember(t, emuYAML(addrB, servers))
	waitSlotOwners(t, addrA, []string{"0-16383@" + addrA}, 3*time.Second)

	res, err := a.srv.Reload(mustParse(t, emuYAML(addrA, servers, addrB)))
	require.NoError(t, err)
	assert.Contains(t, strings.Join(res.Changes, "\n"), "cluster_peers changed")
	lo, hi := addrA, addrB
	if hi < lo {
		lo, hi = hi, lo
	}
	waitSlotOwners(t, addrA, []string{"0-8191@" + lo, "8192-16383@" + hi}, 3*time.Second)

	_, err = a.srv.Reload(mustParse(t, emuYAML(addrA, servers)))
	require.NoError(t, err)
	waitSlotOwners(t, addrA, []string{"0-16383@" + addrA}, 3*time.Second)

	// A peer that is down stays out of the map across a reload that keeps
	// the emulation's settings (the probe state is kept); a rebuilt
	// emulation would assume it live again until probed.
	dead := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	_, err = a.srv.Reload(mustParse(t, emuYAML(addrA, servers, dead)))
	require.NoError(t, err)
	waitSlotOwners(t, addrA, []string{"0-16383@" + addrA}, 3*time.Second)
	res, err = a.srv.Reload(mustParse(t, strings.Replace(emuYAML(addrA, servers, dead), "timeout: 2000", "timeout: 3000", 1)))
	require.NoError(t, err)
	assert.Equal(t, []string{"pool alpha: timeout changed"}, res.Changes)
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		got, err := slotOwners(addrA)
		require.NoError(t, err)
		require.Equal(t, []string{"0-16383@" + addrA}, got, "the dead peer stays out")
	}

	_, err = a.srv.Reload(mustParse(t, poolYAML(addrA, servers)))
	require.NoError(t, err)
	_, err = slotOwners(addrA)
	assert.ErrorContains(t, err, "CLUSTER is not supported by the proxy")
}

func TestClusterEmulationRedisCli(t *testing.T) {
	cli := testutil.RequireBinary(t, "redis-cli")
	servers := startRedises(t, 2)
	m := startMember(t, emuYAML(fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), servers))
	_, port, _ := net.SplitHostPort(m.addr)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, cli, append([]string{"-c", "-h", "127.0.0.1", "-p", port}, args...)...).CombinedOutput()
		require.NoError(t, err, "redis-cli %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, "OK", run("set", "foo", "bar"))
	assert.Equal(t, "bar", run("get", "foo"))
	for i := range 20 {
		k := "cli:" + strconv.Itoa(i)
		assert.Equal(t, "OK", run("set", k, k))
		assert.Equal(t, k, run("get", k))
	}
	assert.Equal(t, "12182", run("cluster", "keyslot", "foo"))
}

// TestClusterEmulationRedisPy runs redis-py's RedisCluster (python3-redis)
// against one ferry and a fleet of two.
func TestClusterEmulationRedisPy(t *testing.T) {
	python := requireRedisPy(t)
	servers := startRedises(t, 2)
	one := startMember(t, emuYAML(fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), servers))
	addrA := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	addrB := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	a := startMember(t, emuYAML(addrA, servers, addrB))
	b := startMember(t, emuYAML(addrB, servers, addrA))
	lo, hi := addrA, addrB
	if hi < lo {
		lo, hi = hi, lo
	}
	both := []string{"0-8191@" + lo, "8192-16383@" + hi}
	waitSlotOwners(t, addrA, both, 5*time.Second)
	waitSlotOwners(t, addrB, both, 5*time.Second)
	require.Eventually(t, func() bool { return a.clients() == 1 && b.clients() == 1 }, 5*time.Second, 5*time.Millisecond)

	script := filepath.Join(t.TempDir(), "cluster.py")
	require.NoError(t, os.WriteFile(script, []byte(redisPyScript), 0o644))
	runPy := func(addr string, nodes int) {
		t.Helper()
		host, port, _ := net.SplitHostPort(addr)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, python, script, host, port, strconv.Itoa(nodes)).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "ok")
		t.Logf("redis-py against %s: %s", addr, strings.TrimSpace(string(out)))
	}
	runPy(one.addr, 1)

	// the fleet: the script's connections stay open while it runs; count
	// them from the accepted totals instead (the probe's stays one)
	totalA, totalB := a.srv.Stats().TotalConnections, b.srv.Stats().TotalConnections
	runPy(addrA, 2)
	assert.Greater(t, a.srv.Stats().TotalConnections, totalA, "redis-py connected to a")
	assert.Greater(t, b.srv.Stats().TotalConnections, totalB, "redis-py connected to b")
}

// requireRedisPy returns a python3 that can import redis (python3-redis),
// skipping the test (failing it with FERRY_TEST_REQUIRE_BINARIES=1) when
// there is none.
func requireRedisPy(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := testutil.LookBinary(name)
		if err != nil {
			if _, serr := os.Stat(name); serr != nil {
				continue
			}
			p = name
		}
		if exec.Command(p, "-c", "import redis.cluster").Run() == nil {
			return p
		}
		tried = append(tried, p)
	}
	msg := fmt.Sprintf("no python3 with redis-py (python3-redis) among %v", tried)
	if os.Getenv("FERRY_TEST_REQUIRE_BINARIES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// redisPyScript: argv host port nodes. Writes keys over every slot with
// RedisCluster, reads them back, checks the map it learned.
const redisPyScript = `
import sys
from redis.cluster import RedisCluster

host, port, nodes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rc = RedisCluster(host=host, port=port, socket_timeout=5)
masters = rc.get_primaries()
assert len(masters) == nodes, masters
assert rc.keyslot("foo") == 12182
assert rc.cluster_keyslot("foo") == 12182
n = 300
for i in range(n):
    assert rc.set("py:%d" % i, "v%d" % i)
for i in range(n):
    v = rc.get("py:%d" % i)
    assert v == b"v%d" % i, (i, v)
rc.mset_nonatomic({"py:m:%d" % i: str(i) for i in range(50)})
vals = rc.mget_nonatomic(["py:m:%d" % i for i in range(50)])
assert vals == [str(i).encode() for i in range(50)], vals
assert rc.delete("py:0") == 1
assert rc.exists("py:1") == 1
used = sorted({n.name for n in rc.get_nodes() if n.redis_connection is not None and n.redis_connection.connection_pool._created_connections > 0})
print("ok: masters %d, nodes used %s" % (len(masters), used))
`
