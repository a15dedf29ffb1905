package engine_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// edgeCmdCalls returns the calls= count of cmdstat_<cmd> on a server (0 if
// it never ran).
func edgeCmdCalls(t *testing.T, s *testutil.Proc, cmd string) int {
	t.Helper()
	info := direct(t, s).Info(ctx, "commandstats").Val()
	i := strings.Index(info, "cmdstat_"+cmd+":calls=")
	if i < 0 {
		return 0
	}
	rest := info[i+len("cmdstat_"+cmd+":calls="):]
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	require.NoError(t, err)
	return n
}

func TestEdgeHashTagKeepsKeysTogether(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur", `hash_tag: "{}"`)
	c := p.client(t)

	keys := []string{"{user1}:a", "{user1}:b", "{user1}:c", "x{user1}y"}
	for _, k := range keys {
		require.NoError(t, c.Set(ctx, k, k, 0).Err())
	}
	holder := -1
	for i, s := range servers {
		if n := direct(t, s).Exists(ctx, keys...).Val(); n > 0 {
			require.EqualValues(t, len(keys), n, "server %d holds only some of the tagged keys", i)
			holder = i
		}
	}
	require.GreaterOrEqual(t, holder, 0)

	// an MGET of tagged keys goes out unsplit, to that one server
	vals, err := c.MGet(ctx, keys...).Result()
	require.NoError(t, err)
	for i, v := range vals {
		require.Equal(t, keys[i], v)
	}
	for i, s := range servers {
		want := 0
		if i == holder {
			want = 1
		}
		require.Equal(t, want, edgeCmdCalls(t, s, "mget"), "server %d", i)
	}

	// untagged keys with the same prefix spread (the tag is what groups them)
	spread := map[int]bool{}
	for i := 0; i < 60; i++ {
		k := "user1:" + strconv.Itoa(i)
		require.NoError(t, c.Set(ctx, k, "1", 0).Err())
	}
	for i, s := range servers {
		if direct(t, s).Exists(ctx, "user1:0", "user1:1", "user1:2", "user1:3", "user1:4", "user1:5",
			"user1:6", "user1:7", "user1:8", "user1:9").Val() > 0 {
			spread[i] = true
		}
	}
	require.Greater(t, len(spread), 1)

	// an empty tag or an unclosed one hashes the whole key: "{}" keys
	// behave like ordinary keys, and every key is on exactly one server
	for _, k := range []string{"{}a", "{}b", "{open", "close}"} {
		require.NoError(t, c.Set(ctx, k, k, 0).Err())
		require.Equal(t, k, c.Get(ctx, k).Val())
		found := 0
		for _, s := range servers {
			found += int(direct(t, s).Exists(ctx, k).Val())
		}
		require.Equal(t, 1, found, k)
	}
}

func TestEdgeScriptsRouting(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur", `hash_tag: "{}"`)
	conn := testutil.RawConn(t, p.addr)
	do := func(args ...string) string {
		t.Helper()
		r, err := conn.Do(args...)
		require.NoError(t, err)
		return string(r)
	}
	ka := edgeKeyFor(t, p, servers[0].Addr, "a")
	kb := edgeKeyFor(t, p, servers[1].Addr, "b")
	const cross = "-ERR ferry: the keys of this command are on different servers (use a hash tag to keep them together)\r\n"
	script := "redis.call('set', KEYS[1], ARGV[1]); redis.call('set', KEYS[2], ARGV[1]); return redis.call('get', KEYS[2])"

	// keys on different servers: refused, connection kept
	require.Equal(t, cross, do("EVAL", script, "2", ka, kb, "x"))
	require.Equal(t, cross, do("EVAL_RO", "return 1", "2", ka, kb))
	require.Equal(t, "+PONG\r\n", do("PING"))
	require.Equal(t, 0, edgeCmdCalls(t, servers[0], "eval")+edgeCmdCalls(t, servers[1], "eval")+edgeCmdCalls(t, servers[2], "eval"))

	// with a hash tag: runs, on the tag's server
	require.Equal(t, "$1\r\nx\r\n", do("EVAL", script, "2", "{s}a", "{s}b", "x"))
	// keys after numkeys are arguments, not keys: they do not count
	require.Equal(t, "$1\r\ny\r\n", do("EVAL", script, "2", "{s}a", "{s}b", "y", ka, kb))
	// bad numkeys
	for _, nk := range []string{"3", "-1", "x"} {
		r := do("EVAL", "return 1", nk, "{s}a")
		require.True(t, strings.HasPrefix(r, "-ERR"), "numkeys %s: %q", nk, r)
	}

	// SCRIPT is refused (it would have to run on every server) ...
	r := do("SCRIPT", "LOAD", "return 1")
	require.True(t, strings.HasPrefix(r, "-ERR") && strings.Contains(r, "not supported"), r)
	// ... so scripts are loaded on the servers directly; EVALSHA then works
	// through ferry with the same placement rules
	var sha string
	for _, s := range servers {
		sha = direct(t, s).ScriptLoad(ctx, script).Val()
	}
	require.Len(t, sha, 40)
	require.Equal(t, "$1\r\nz\r\n", do("EVALSHA", sha, "2", "{s}a", "{s}b", "z"))
	// the server's own error passes through (a read-only run of a writing script)
	r = do("EVALSHA_RO", sha, "2", "{s}a", "{s}b", "q")
	require.True(t, strings.HasPrefix(r, "-ERR") && strings.Contains(r, "Write commands are not allowed"), r)
	require.Equal(t, cross, do("EVALSHA", sha, "2", ka, kb, "z"))
	r = do("EVALSHA", strings.Repeat("0", 40), "1", "{s}a")
	require.True(t, strings.HasPrefix(r, "-NOSCRIPT"), r)
	require.Equal(t, "z", direct(t, p.servers[edgeServerOf(t, p, "{s}a")]).Get(ctx, "{s}b").Val())

	// numkeys 0: routed by the script text, so every run lands on the same server
	before := make([]int, len(servers))
	for i, s := range servers {
		before[i] = edgeCmdCalls(t, s, "eval")
	}
	for i := 0; i < 10; i++ {
		require.Equal(t, ":7\r\n", do("EVAL", "return 7", "0"))
	}
	ran := 0
	for i, s := range servers {
		if d := edgeCmdCalls(t, s, "eval") - before[i]; d > 0 {
			require.Equal(t, 10, d)
			ran++
		}
	}
	require.Equal(t, 1, ran)

	// FCALL: functions loaded on each server directly, called through ferry
	lib := "#!lua name=edgelib\nredis.register_function{function_name='edge_get', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}}"
	for _, s := range servers {
		require.NoError(t, direct(t, s).FunctionLoad(ctx, lib).Err())
	}
	require.Equal(t, "$1\r\nz\r\n", do("FCALL", "edge_get", "1", "{s}b"))
	require.Equal(t, "$1\r\nz\r\n", do("FCALL_RO", "edge_get", "2", "{s}b", "{s}a"))
	require.Equal(t, cross, do("FCALL", "edge_get", "2", ka, kb))
	r = do("FUNCTION", "LIST")
	require.True(t, strings.HasPrefix(r, "-ERR"), r)
}

// edgeServerOf is the index in p.servers of the server key is routed to.
func edgeServerOf(t *testing.T, p *proxy, key string) int {
	t.Helper()
	pool := p.srv.Pools()[0]
	addr := pool.Servers[pool.Pick([]byte(key))].Addr
	for i, s := range p.servers {
		if s.Addr == addr {
			return i
		}
	}
	t.Fatalf("no server %s", addr)
	return -1
}

// One server sends big, slow replies; another small fast ones. A client
// pipelining both kinds gets every reply in request order.
func TestEdgeReplyOrderAcrossSlowAndFastServers(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur")
	big := edgeKeyFor(t, p, servers[0].Addr, "big")
	list := edgeKeyFor(t, p, servers[0].Addr, "list")
	small := edgeKeyFor(t, p, servers[1].Addr, "small")
	c := p.client(t)
	bigVal := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	require.NoError(t, c.Set(ctx, big, bigVal, 0).Err())
	items := make([]any, 20000)
	for i := range items {
		items[i] = "item-" + strconv.Itoa(i)
	}
	require.NoError(t, c.RPush(ctx, list, items...).Err())
	require.NoError(t, c.Set(ctx, small, "s", 0).Err())

	conn := testutil.RawConn(t, p.addr)
	var req []byte
	const rounds = 10
	for i := 0; i < rounds; i++ {
		req = append(req, testutil.Command("GET", big)...)
		req = append(req, testutil.Command("INCR", small+":n")...)
		req = append(req, testutil.Command("LRANGE", list, "0", "-1")...)
		req = append(req, testutil.Command("GET", small)...)
		req = append(req, testutil.Command("ECHO", strconv.Itoa(i))...)
	}
	conn.Send(req)
	wantBig := "$" + strconv.Itoa(len(bigVal)) + "\r\n" + string(bigVal) + "\r\n"
	for i := 0; i < rounds; i++ {
		r, err := conn.ReadReply()
		require.NoError(t, err)
		require.True(t, string(r) == wantBig, "round %d: GET big: got %d bytes %.40q", i, len(r), r)
		r, err = conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, ":"+strconv.Itoa(i+1)+"\r\n", string(r), "round %d: INCR", i)
		r, err = conn.ReadReply()
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(r, []byte("*20000\r\n$6\r\nitem-0\r\n")), "round %d: LRANGE: %.40q", i, r)
		require.True(t, bytes.HasSuffix(r, []byte("$10\r\nitem-19999\r\n")), "round %d: LRANGE end", i)
		r, err = conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, "$1\r\ns\r\n", string(r), "round %d: GET small", i)
		r, err = conn.ReadReply()
		require.NoError(t, err)
		v := strconv.Itoa(i)
		require.Equal(t, "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n", string(r), "round %d: ECHO", i)
	}

	// MGET whose fragments come back at very different speeds is merged
	// in key order
	vals, err := c.MGet(ctx, small, big, small).Result()
	require.NoError(t, err)
	require.Equal(t, "s", vals[0])
	require.Equal(t, string(bigVal), vals[1])
	require.Equal(t, "s", vals[2])
}
