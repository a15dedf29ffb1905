package resp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// twemproxyCommands are the redis commands twemproxy 0.5 forwards
// (MSG_REQ_REDIS_* in src/nc_message.h).
var twemproxyCommands = strings.Fields(`COPY DEL EXISTS EXPIRE EXPIREAT MOVE PEXPIRE PEXPIREAT PERSIST PTTL
SORT TOUCH TTL TYPE UNLINK APPEND BITCOUNT BITFIELD BITPOS DECR DECRBY DUMP GET GETBIT GETDEL GETEX
GETRANGE GETSET INCR INCRBY INCRBYFLOAT MGET MSET PSETEX RESTORE SET SETBIT SETEX SETNX SETRANGE
STRLEN HDEL HEXISTS HGET HGETALL HINCRBY HINCRBYFLOAT HKEYS HLEN HMGET HMSET HRANDFIELD HSET HSETNX
HSCAN HSTRLEN HVALS LINDEX LINSERT LLEN LMOVE LPOP LPOS LPUSH LPUSHX LRANGE LREM LSET LTRIM PFADD
PFCOUNT PFMERGE RPOP RPOPLPUSH RPUSH RPUSHX SADD SCARD SDIFF SDIFFSTORE SINTER SINTERSTORE SISMEMBER
SMISMEMBER SMEMBERS SMOVE SPOP SRANDMEMBER SREM SUNION SUNIONSTORE SSCAN ZADD ZCARD ZCOUNT ZDIFF
ZDIFFSTORE ZINCRBY ZINTER ZINTERSTORE ZLEXCOUNT ZMSCORE ZPOPMIN ZPOPMAX ZRANDMEMBER ZRANGE ZRANGEBYLEX
ZRANGEBYSCORE ZRANGESTORE ZRANK ZREM ZREMRANGEBYRANK ZREMRANGEBYLEX ZREMRANGEBYSCORE ZREVRANGE
ZREVRANGEBYLEX ZREVRANGEBYSCORE ZREVRANK ZUNION ZSCAN ZSCORE ZUNIONSTORE GEOADD GEODIST GEOHASH
GEORADIUS GEORADIUSBYMEMBER GEOPOS GEOSEARCH GEOSEARCHSTORE EVAL EVALSHA PING QUIT AUTH SELECT
COMMAND LOLWUT`)

func TestCommandTableCoversTwemproxy(t *testing.T) {
	for _, name := range twemproxyCommands {
		c := Lookup([]byte(name))
		require.NotNil(t, c, name)
		if name != "MOVE" { // the proxy has no databases to move between
			require.NotEqual(t, KindUnsupported, c.Kind, name)
		}
	}
}

func TestCommandTableConsistent(t *testing.T) {
	for i := range Commands() {
		c := &Commands()[i]
		require.Same(t, c, Lookup([]byte(strings.ToLower(c.Name))))
		require.Equal(t, strings.ToUpper(c.Name), c.Name)
		require.NotZero(t, c.Arity, c.Name)
		switch c.Kind {
		case KindSingle:
			require.Positive(t, c.FirstKey, c.Name)
			require.Equal(t, c.FirstKey, c.LastKey, c.Name)
		case KindMulti:
			require.NotEqual(t, MergeNone, c.Merge, c.Name)
			require.Equal(t, -1, c.LastKey, c.Name)
		case KindSameServer:
			require.True(t, c.FirstKey > 0 || c.NumKeysAt > 0, c.Name)
		case KindEval:
			require.Equal(t, 2, c.NumKeysAt, c.Name)
		case KindUnsupported:
			require.Equal(t, "-ERR "+c.Reason+"\r\n", string(c.ErrorReply()))
			require.NotContains(t, c.Reason, "\n")
			require.True(t, strings.HasPrefix(c.Reason, c.Name+" "), c.Name)
		}
		if c.Kind != KindUnsupported {
			require.Nil(t, c.ErrorReply())
			require.Empty(t, c.Reason)
		}
		if c.Kind != KindMulti {
			require.Equal(t, MergeNone, c.Merge, c.Name)
		}
	}
}

func TestLookup(t *testing.T) {
	require.Equal(t, "GET", Lookup([]byte("get")).Name)
	require.Equal(t, "GET", Lookup([]byte("GeT")).Name)
	require.Equal(t, "GEORADIUSBYMEMBER_RO", Lookup([]byte("georadiusbymember_ro")).Name)
	for _, bad := range []string{"", "GETT", "GE", "get ", "G\x00T", strings.Repeat("A", 100), "\xc7ET"} {
		require.Nil(t, Lookup([]byte(bad)), "%q", bad)
	}
	name := []byte("mget")
	allocs := testing.AllocsPerRun(100, func() {
		if Lookup(name) == nil {
			panic("nil")
		}
	})
	require.Zero(t, allocs)
	require.Equal(t, "mget", string(name), "Lookup must not modify its input")

	require.Equal(t, KindMulti, Lookup([]byte("MGET")).Kind)
	require.Equal(t, MergeArray, Lookup([]byte("MGET")).Merge)
	require.Equal(t, MergeSum, Lookup([]byte("DEL")).Merge)
	require.Equal(t, MergeSum, Lookup([]byte("EXISTS")).Merge)
	require.Equal(t, MergeOK, Lookup([]byte("MSET")).Merge)
	require.Equal(t, KindEval, Lookup([]byte("FCALL_RO")).Kind)
	require.Equal(t, KindSameServer, Lookup([]byte("RENAME")).Kind)
	require.Equal(t, KindSameServer, Lookup([]byte("SMOVE")).Kind)
	require.Equal(t, KindUnsupported, Lookup([]byte("BLPOP")).Kind)
	require.Equal(t, KindLocal, Lookup([]byte("PING")).Kind)
	require.Equal(t, "-ERR MULTI is not supported by the proxy: transactions cannot span servers\r\n",
		string(Lookup([]byte("multi")).ErrorReply()))
	require.Equal(t, "single", KindSingle.String())
	require.Equal(t, "sum", MergeSum.String())
}

func TestArityOK(t *testing.T) {
	f := func(name string, nargs int, want bool) {
		t.Helper()
		require.Equal(t, want, Lookup([]byte(name)).ArityOK(nargs), "%s %d", name, nargs)
	}
	f("GET", 2, true)
	f("GET", 1, false)
	f("GET", 3, false)
	f("SET", 2, false)
	f("SET", 3, true)
	f("SET", 7, true)
	f("MGET", 1, false)
	f("MGET", 2, true)
	f("MGET", 100, true)
	f("MSET", 3, true)
	f("MSET", 4, false) // half a pair
	f("MSET", 5, true)
	f("MSETNX", 4, false)
	f("PING", 1, true)
	f("PING", 2, true)
	f("EVAL", 2, false)
	f("EVAL", 3, true)
}

func TestKeyIndexes(t *testing.T) {
	f := func(req string, want []int, wantOK bool) {
		t.Helper()
		var args [][]byte
		for _, a := range strings.Fields(req) {
			args = append(args, []byte(a))
		}
		c := Lookup(args[0])
		var got []int
		ok := KeyIndexes(c, args, func(i int) { got = append(got, i) })
		require.Equal(t, wantOK, ok, req)
		require.Equal(t, want, got, req)
		k, has := c.Key(args)
		if len(want) > 0 && ok {
			require.True(t, has, req)
			require.Equal(t, args[want[0]], k, req)
		} else if c.NumKeysAt > 0 {
			require.False(t, has, req)
		}
	}
	f("GET k", []int{1}, true)
	f("SET k v EX 10", []int{1}, true)
	f("MGET a b c", []int{1, 2, 3}, true)
	f("DEL a", []int{1}, true)
	f("MSET a 1 b 2 c 3", []int{1, 3, 5}, true)
	f("RENAME a b", []int{1, 2}, true)
	f("LMOVE a b LEFT RIGHT", []int{1, 2}, true)
	f("BITOP AND dst a b", []int{2, 3, 4}, true)
	f("SUNIONSTORE d a b", []int{1, 2, 3}, true)
	f("EVAL return 2 k1 k2 a1", []int{3, 4}, true)
	f("EVALSHA sha 0 a1", nil, true)
	f("FCALL f 1 k", []int{3}, true)
	f("EVAL s 3 k1 k2", nil, false)
	f("EVAL s -1 k1", nil, false)
	f("EVAL s x k1", nil, false)
	f("EVAL s", nil, false)
	f("ZUNIONSTORE d 2 a b WEIGHTS 1 2", []int{1, 3, 4}, true)
	f("ZUNION 2 a b", []int{2, 3}, true)
	f("SINTERCARD 2 a b LIMIT 1", []int{2, 3}, true)
	f("XINFO STREAM s", []int{2}, true)
	f("XINFO HELP", nil, true)
	f("XGROUP CREATE s g $", []int{2}, true)
	f("OBJECT ENCODING k", []int{2}, true)
	f("PING", nil, true)

	c := Lookup([]byte("MGET"))
	args := [][]byte{[]byte("MGET"), []byte("a"), []byte("b")}
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		KeyIndexes(c, args, func(i int) { n += i })
	})
	require.Zero(t, allocs)
}
