package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

var ctx = context.Background()

func TestCommandsAcrossTypes(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur")
	c := p.client(t)

	require.NoError(t, c.Set(ctx, "s", "v", 0).Err())
	require.Equal(t, "v", c.Get(ctx, "s").Val())
	require.Equal(t, redis.Nil, c.Get(ctx, "missing").Err())
	require.EqualValues(t, 1, c.Incr(ctx, "n").Val())
	require.EqualValues(t, 11, c.IncrBy(ctx, "n", 10).Val())
	require.EqualValues(t, 2, c.LPush(ctx, "l", "a", "b").Val())
	require.Equal(t, "b", c.LPop(ctx, "l").Val())
	require.EqualValues(t, 2, c.SAdd(ctx, "set", "x", "y").Val())
	require.EqualValues(t, 2, c.SCard(ctx, "set").Val())
	require.EqualValues(t, 1, c.HSet(ctx, "h", "f", "1").Val())
	require.Equal(t, "1", c.HGet(ctx, "h", "f").Val())
	require.EqualValues(t, 1, c.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "m"}).Val())
	require.Equal(t, []string{"m"}, c.ZRange(ctx, "z", 0, -1).Val())
	require.EqualValues(t, 1, c.PFAdd(ctx, "hll", "a").Val())
	require.EqualValues(t, 1, c.GeoAdd(ctx, "geo", &redis.GeoLocation{Name: "p", Longitude: 13.36, Latitude: 38.11}).Val())
	id := c.XAdd(ctx, &redis.XAddArgs{Stream: "st", Values: []string{"k", "v"}}).Val()
	require.NotEmpty(t, id)
	require.EqualValues(t, 1, c.XLen(ctx, "st").Val())
	require.True(t, c.Expire(ctx, "s", time.Hour).Val())
	require.Greater(t, c.TTL(ctx, "s").Val(), time.Minute)
	require.Equal(t, "string", c.Type(ctx, "s").Val())
	// a script whose keys share a server (hash tag)
	v, err := c.Eval(ctx, "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[2])", []string{"{t}a", "{t}b"}, "x").Result()
	require.Equal(t, redis.Nil, err)
	require.Nil(t, v)
	require.Equal(t, "x", c.Get(ctx, "{t}a").Val())

	// Every key lives on exactly one backend: the one ferry routes it to.
	for _, key := range []string{"s", "n", "l", "set", "h", "z", "hll", "geo", "st"} {
		found := 0
		for _, s := range servers {
			if direct(t, s).Exists(ctx, key).Val() == 1 {
				found++
			}
		}
		require.Equal(t, 1, found, "key %q", key)
	}
}

func TestKeysSpreadOverServers(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur")
	c := p.client(t)
	pipe := c.Pipeline()
	for i := 0; i < 300; i++ {
		pipe.Set(ctx, "key:"+strconv.Itoa(i), i, 0)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	total := int64(0)
	for _, s := range servers {
		n := direct(t, s).DBSize(ctx).Val()
		require.Greater(t, n, int64(30), "ketama spreads keys over every server")
		total += n
	}
	require.EqualValues(t, 300, total)
}

func TestMultiKeyCommandsSplitAndMerge(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur")
	c := p.client(t)

	var keys []string
	var pairs []any
	for i := 0; i < 20; i++ {
		k := "mk" + strconv.Itoa(i)
		keys = append(keys, k)
		pairs = append(pairs, k, "v"+strconv.Itoa(i))
	}
	require.Equal(t, "OK", c.MSet(ctx, pairs...).Val())
	got := c.MGet(ctx, append([]string{"absent"}, keys...)...).Val()
	require.Len(t, got, 21)
	require.Nil(t, got[0])
	for i := range keys {
		require.Equal(t, "v"+strconv.Itoa(i), got[i+1])
	}
	require.EqualValues(t, 20, c.Exists(ctx, keys...).Val())
	require.EqualValues(t, 21, c.Exists(ctx, append(keys, keys[0])...).Val(), "EXISTS counts repeats, summed over servers")
	require.EqualValues(t, 20, c.Touch(ctx, append(keys, "absent")...).Val())
	require.EqualValues(t, 10, c.Del(ctx, keys[:10]...).Val())
	require.EqualValues(t, 10, c.Unlink(ctx, keys...).Val())
	require.EqualValues(t, 0, c.Exists(ctx, keys...).Val())

	// the keys really were spread: every server saw an MSET fragment
	for _, s := range servers {
		info := direct(t, s).Info(ctx, "commandstats").Val()
		require.Contains(t, info, "cmdstat_mset:")
	}
}

func TestPipelineOf10000CommandsKeepsOrder(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur")
	conn := testutil.RawConn(t, p.addr)
	var buf bytes.Buffer
	const n = 10000
	for i := 0; i < n; i++ {
		k := "p" + strconv.Itoa(i)
		buf.Write(testutil.Command("SET", k, strconv.Itoa(i)))
		buf.Write(testutil.Command("GET", k))
	}
	done := make(chan error, 1)
	go func() { _, err := conn.Write(buf.Bytes()); done <- err }()
	for i := 0; i < n; i++ {
		r, err := conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, "+OK\r\n", string(r), "reply %d", 2*i)
		r, err = conn.ReadReply()
		require.NoError(t, err)
		v := strconv.Itoa(i)
		require.Equal(t, "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n", string(r), "reply %d", 2*i+1)
	}
	require.NoError(t, <-done)
}

func TestConcurrentClients(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := 0; g < 200; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: p.addr, Protocol: 2, DisableIndentity: true, PoolSize: 1})
			defer c.Close()
			for i := 0; i < 50; i++ {
				k := fmt.Sprintf("c%d:%d", g, i)
				if err := c.Set(ctx, k, k, 0).Err(); err != nil {
					errs <- err
					return
				}
				if v, err := c.Get(ctx, k).Result(); err != nil || v != k {
					errs <- fmt.Errorf("get %s = %q, %v", k, v, err)
					return
				}
			}
			vals, err := c.MGet(ctx, fmt.Sprintf("c%d:0", g), fmt.Sprintf("c%d:49", g)).Result()
			if err != nil || vals[0] != fmt.Sprintf("c%d:0", g) || vals[1] != fmt.Sprintf("c%d:49", g) {
				errs <- fmt.Errorf("mget: %v %v", vals, err)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestLargeValues16MiB(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "hash: murmur")
	c := p.client(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	require.NoError(t, c.Set(ctx, "big", big, 0).Err())
	got, err := c.Get(ctx, "big").Bytes()
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got))
	// and a small command right behind it on the same connection still works
	require.NoError(t, c.Set(ctx, "small", "1", 0).Err())
	require.Equal(t, "1", c.Get(ctx, "small").Val())
}

func TestLocalCommands(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur")
	conn := testutil.RawConn(t, p.addr)
	do := func(args ...string) string {
		t.Helper()
		r, err := conn.Do(args...)
		require.NoError(t, err)
		return string(r)
	}
	require.Equal(t, "+PONG\r\n", do("PING"))
	require.Equal(t, "$5\r\nhello\r\n", do("ping", "hello"))
	require.Equal(t, "$3\r\nabc\r\n", do("ECHO", "abc"))
	require.Equal(t, "+OK\r\n", do("SELECT", "0"))
	require.True(t, strings.HasPrefix(do("SELECT", "1"), "-ERR"))
	require.True(t, strings.HasPrefix(do("INFO"), "$"))
	require.True(t, strings.HasPrefix(do("COMMAND", "COUNT"), ":"))
	require.Equal(t, "*0\r\n", do("COMMAND", "DOCS"))
	require.True(t, strings.HasPrefix(do("HELLO", "2"), "*14\r\n"))
	require.True(t, strings.HasPrefix(do("HELLO", "3"), "-NOPROTO"))
	require.Equal(t, "+OK\r\n", do("CLIENT", "SETNAME", "x"))
	require.True(t, strings.HasPrefix(do("AUTH", "x"), "-ERR"))

	// errors keep the connection open
	require.True(t, strings.HasPrefix(do("NOSUCHCMD", "a"), "-ERR unknown command 'NOSUCHCMD'"))
	require.Equal(t, "-ERR wrong number of arguments for 'get' command\r\n", do("GET"))
	for _, cmd := range [][]string{{"BLPOP", "a", "0"}, {"KEYS", "*"}, {"SCAN", "0"}, {"SUBSCRIBE", "ch"}} {
		require.True(t, strings.HasPrefix(do(cmd...), "-ERR"), cmd)
	}
	require.True(t, strings.HasPrefix(do("MULTI"), "-ERR"))
	require.Equal(t, "+OK\r\n", do("DISCARD"), "ends the refused transaction")
	require.True(t, strings.HasPrefix(do("RENAME", "a", "b"), "-ERR"), "keys on different servers")
	require.Equal(t, "+PONG\r\n", do("PING"))
	require.Equal(t, "+OK\r\n", do("QUIT"))
	conn.ExpectClosed(2 * time.Second)

	// go-redis with its defaults (HELLO 3, CLIENT SETINFO) falls back and works
	c := redis.NewClient(&redis.Options{Addr: p.addr})
	defer c.Close()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.Equal(t, "v", c.Get(ctx, "k").Val())
}

func TestMalformedInputClosesOnlyThatClient(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur")
	good := p.client(t)
	require.NoError(t, good.Set(ctx, "g", "1", 0).Err())

	cases := map[string]string{
		"negative bulk":      "*1\r\n$-2\r\n",
		"huge array":         "*999999999999\r\n",
		"not a bulk":         "*2\r\n$3\r\nGET\r\n:1\r\n",
		"bad length":         "*1\r\n$x\r\n",
		"bulk too long":      "*2\r\n$3\r\nGET\r\n$99999999999\r\n",
		"missing crlf":       "*1\r\n$4\r\nPINGxx",
		"nested array":       "*1\r\n*1\r\n$4\r\nPING\r\n",
		"array count junk":   "*1x\r\n",
		"binary after reply": "*1\r\n$4\r\nPING\r\n\x00\x01\x02\r\n*-5\r\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			conn := testutil.RawConn(t, p.addr)
			conn.Send([]byte(in))
			var last string
			for {
				r, err := conn.ReadReply()
				if err != nil {
					break
				}
				last = string(r)
			}
			require.True(t, strings.HasPrefix(last, "-ERR"), "got %q", last)
			// and the well-behaved client is untouched
			require.Equal(t, "1", good.Get(ctx, "g").Val())
		})
	}
}

func TestDeclaredLengthsRejectedAtOnce(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "max_request_bytes: 1048576")
	conn := testutil.RawConn(t, p.addr)
	// The header promises 100 MiB: the proxy must answer now, not wait for it.
	conn.Send([]byte("*2\r\n$3\r\nSET\r\n$104857600\r\n"))
	_ = conn.Conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	r, err := conn.ReadReply()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(r), "-ERR"), string(r))
	conn.ExpectClosed(2 * time.Second)
}

func TestInlineCommands(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur")
	conn := testutil.RawConn(t, p.addr)
	conn.Send([]byte("SET inl 42\r\nGET inl\r\nPING\r\n"))
	br := bufio.NewReader(conn.Conn)
	for _, want := range []string{"+OK\r\n", "$2\r\n42\r\n", "+PONG\r\n"} {
		r, err := testutil.ReadReply(br)
		require.NoError(t, err)
		require.Equal(t, want, string(r))
	}
}

func TestStatsCountRequestsAndDrainQueues(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur")
	c := p.client(t)
	for i := 0; i < 100; i++ {
		require.NoError(t, c.Set(ctx, "st"+strconv.Itoa(i), i, 0).Err())
	}
	require.Len(t, c.MGet(ctx, "st1", "st2", "st3", "st4").Val(), 4)
	snap := p.srv.Stats()
	require.Len(t, snap.Pools, 1)
	pool := snap.Pools[0]
	require.GreaterOrEqual(t, pool.Requests, uint64(101))
	var sent, answered uint64
	for _, s := range pool.Servers {
		require.Zero(t, s.InQueue, "nothing in flight once every reply is in")
		require.Greater(t, s.Requests, uint64(0))
		sent += s.Requests
		answered += s.Responses
	}
	require.Equal(t, sent, answered)
	require.GreaterOrEqual(t, sent, uint64(101))
	require.GreaterOrEqual(t, pool.ClientConnections, int64(1))
}

// With server_connections > 1 a client still keeps one connection per
// server, so the server runs its pipelined requests in the order sent.
func TestServerConnectionsKeepOneClientInOrder(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "server_connections: 4")
	conn := testutil.RawConn(t, p.addr)
	var buf bytes.Buffer
	for i := 0; i < 2000; i++ {
		buf.Write(testutil.Command("SET", "seq", strconv.Itoa(i)))
		buf.Write(testutil.Command("GET", "seq"))
	}
	conn.Send(buf.Bytes())
	for i := 0; i < 2000; i++ {
		r, err := conn.ReadReply()
		require.NoError(t, err)
		require.Equal(t, "+OK\r\n", string(r))
		r, err = conn.ReadReply()
		require.NoError(t, err)
		v := strconv.Itoa(i)
		require.Equal(t, "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n", string(r), "GET after SET %d", i)
	}
}
