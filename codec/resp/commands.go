package resp

// The command table: one row per command. Arity and key positions follow
// redis' own COMMAND output (7.x); kinds follow what a sharding proxy can
// do. The list covers every redis command twemproxy forwards
// (src/proto/nc_redis.c), a few it should (EXPIRETIME, LCS, the hash-field
// TTL commands), and rows for common commands it refuses, so that the proxy
// answers them with a reason instead of "unknown command".
//
// Known gaps in the key positions (routing still uses the first key):
// SORT ... STORE dst and GEORADIUS[BYMEMBER] ... STORE dst have a second
// key among their options.

type spec struct {
	name              string
	arity             int
	first, last, step int
	numkeys           int
	kind              Kind
	merge             Merge
	ro                bool
	why               string // KindUnsupported
}

const (
	single = KindSingle
	multi  = KindMulti
	same   = KindSameServer
	eval   = KindEval
	local  = KindLocal
	unsup  = KindUnsupported

	none = MergeNone
	ro   = true
	rw   = false
)

const (
	whyTx     = "transactions cannot span servers"
	whyBlock  = "blocking commands would hold a server connection"
	whyPubSub = "pub/sub is not proxied"
	whyAll    = "it needs every server"
	whyDB     = "the proxy serves one database per pool"
	whyAdmin  = "administrative commands go to the servers directly"
	whyScript = "scripts and functions must be loaded on each server directly"
	whyXRead  = "its keys follow STREAMS and it may block"
)

var specs = [...]spec{
	// name, arity, first, last, step, numkeys, kind, merge, read-only, why

	// strings
	{"GET", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"SET", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"SETNX", 3, 1, 1, 1, 0, single, none, rw, ""},
	{"SETEX", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"PSETEX", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"GETSET", 3, 1, 1, 1, 0, single, none, rw, ""},
	{"GETDEL", 2, 1, 1, 1, 0, single, none, rw, ""},
	{"GETEX", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"GETRANGE", 4, 1, 1, 1, 0, single, none, ro, ""},
	{"SUBSTR", 4, 1, 1, 1, 0, single, none, ro, ""},
	{"SETRANGE", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"APPEND", 3, 1, 1, 1, 0, single, none, rw, ""},
	{"STRLEN", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"INCR", 2, 1, 1, 1, 0, single, none, rw, ""},
	{"DECR", 2, 1, 1, 1, 0, single, none, rw, ""},
	{"INCRBY", 3, 1, 1, 1, 0, single, none, rw, ""},
	{"DECRBY", 3, 1, 1, 1, 0, single, none, rw, ""},
	{"INCRBYFLOAT", 3, 1, 1, 1, 0, single, none, rw, ""},
	{"MGET", -2, 1, -1, 1, 0, multi, MergeArray, ro, ""},
	{"MSET", -3, 1, -1, 2, 0, multi, MergeOK, rw, ""},
	{"MSETNX", -3, 1, -1, 2, 0, same, none, rw, ""},
	{"LCS", -3, 1, 2, 1, 0, same, none, ro, ""},

	// bitmaps
	{"GETBIT", 3, 1, 1, 1, 0, single, none, ro, ""},
	{"SETBIT", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"BITCOUNT", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"BITPOS", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"BITFIELD", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"BITFIELD_RO", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"BITOP", -4, 2, -1, 1, 0, same, none, rw, ""},

	// keys
	{"DEL", -2, 1, -1, 1, 0, multi, MergeSum, rw, ""},
	{"UNLINK", -2, 1, -1, 1, 0, multi, MergeSum, rw, ""},
	{"EXISTS", -2, 1, -1, 1, 0, multi, MergeSum, ro, ""},
	{"TOUCH", -2, 1, -1, 1, 0, multi, MergeSum, ro, ""},
	{"EXPIRE", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"EXPIREAT", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"PEXPIRE", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"PEXPIREAT", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"EXPIRETIME", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"PEXPIRETIME", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"TTL", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"PTTL", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"TYPE", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"PERSIST", 2, 1, 1, 1, 0, single, none, rw, ""},
	{"DUMP", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"RESTORE", -4, 1, 1, 1, 0, single, none, rw, ""},
	{"SORT", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"SORT_RO", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"OBJECT", -2, 2, 2, 1, 0, single, none, ro, ""},
	{"RENAME", 3, 1, 2, 1, 0, same, none, rw, ""},
	{"RENAMENX", 3, 1, 2, 1, 0, same, none, rw, ""},
	{"COPY", -3, 1, 2, 1, 0, same, none, rw, ""},
	{"MOVE", 3, 1, 1, 1, 0, unsup, none, rw, whyDB},
	{"SWAPDB", 3, 0, 0, 0, 0, unsup, none, rw, whyDB},
	{"KEYS", 2, 0, 0, 0, 0, unsup, none, ro, whyAll},
	{"SCAN", -2, 0, 0, 0, 0, unsup, none, ro, whyAll},
	{"RANDOMKEY", 1, 0, 0, 0, 0, unsup, none, ro, whyAll},
	{"DBSIZE", 1, 0, 0, 0, 0, unsup, none, ro, whyAll},
	{"FLUSHALL", -1, 0, 0, 0, 0, unsup, none, rw, whyAll},
	{"FLUSHDB", -1, 0, 0, 0, 0, unsup, none, rw, whyAll},
	{"WAIT", 3, 0, 0, 0, 0, unsup, none, ro, whyAll},
	{"WAITAOF", 4, 0, 0, 0, 0, unsup, none, ro, whyAll},
	{"MIGRATE", -6, 0, 0, 0, 0, unsup, none, rw, whyAdmin},

	// hashes
	{"HSET", -4, 1, 1, 1, 0, single, none, rw, ""},
	{"HSETNX", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"HMSET", -4, 1, 1, 1, 0, single, none, rw, ""},
	{"HGET", 3, 1, 1, 1, 0, single, none, ro, ""},
	{"HMGET", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"HDEL", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"HEXISTS", 3, 1, 1, 1, 0, single, none, ro, ""},
	{"HGETALL", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"HKEYS", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"HVALS", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"HLEN", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"HSTRLEN", 3, 1, 1, 1, 0, single, none, ro, ""},
	{"HINCRBY", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"HINCRBYFLOAT", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"HRANDFIELD", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"HSCAN", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"HEXPIRE", -6, 1, 1, 1, 0, single, none, rw, ""},
	{"HPEXPIRE", -6, 1, 1, 1, 0, single, none, rw, ""},
	{"HEXPIREAT", -6, 1, 1, 1, 0, single, none, rw, ""},
	{"HPEXPIREAT", -6, 1, 1, 1, 0, single, none, rw, ""},
	{"HTTL", -5, 1, 1, 1, 0, single, none, ro, ""},
	{"HPTTL", -5, 1, 1, 1, 0, single, none, ro, ""},
	{"HEXPIRETIME", -5, 1, 1, 1, 0, single, none, ro, ""},
	{"HPEXPIRETIME", -5, 1, 1, 1, 0, single, none, ro, ""},
	{"HPERSIST", -5, 1, 1, 1, 0, single, none, rw, ""},
	{"HGETDEL", -5, 1, 1, 1, 0, single, none, rw, ""},
	{"HGETEX", -5, 1, 1, 1, 0, single, none, rw, ""},
	{"HSETEX", -6, 1, 1, 1, 0, single, none, rw, ""},

	// lists
	{"LPUSH", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"RPUSH", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"LPUSHX", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"RPUSHX", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"LPOP", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"RPOP", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"LLEN", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"LINDEX", 3, 1, 1, 1, 0, single, none, ro, ""},
	{"LINSERT", 5, 1, 1, 1, 0, single, none, rw, ""},
	{"LRANGE", 4, 1, 1, 1, 0, single, none, ro, ""},
	{"LREM", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"LSET", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"LTRIM", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"LPOS", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"RPOPLPUSH", 3, 1, 2, 1, 0, same, none, rw, ""},
	{"LMOVE", 5, 1, 2, 1, 0, same, none, rw, ""},
	{"LMPOP", -4, 0, 0, 0, 1, same, none, rw, ""},
	{"BLPOP", -3, 0, 0, 0, 0, unsup, none, rw, whyBlock},
	{"BRPOP", -3, 0, 0, 0, 0, unsup, none, rw, whyBlock},
	{"BRPOPLPUSH", 4, 0, 0, 0, 0, unsup, none, rw, whyBlock},
	{"BLMOVE", 6, 0, 0, 0, 0, unsup, none, rw, whyBlock},
	{"BLMPOP", -5, 0, 0, 0, 0, unsup, none, rw, whyBlock},

	// sets
	{"SADD", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"SREM", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"SCARD", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"SISMEMBER", 3, 1, 1, 1, 0, single, none, ro, ""},
	{"SMISMEMBER", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"SMEMBERS", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"SPOP", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"SRANDMEMBER", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"SSCAN", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"SMOVE", 4, 1, 2, 1, 0, same, none, rw, ""},
	{"SDIFF", -2, 1, -1, 1, 0, same, none, ro, ""},
	{"SDIFFSTORE", -3, 1, -1, 1, 0, same, none, rw, ""},
	{"SINTER", -2, 1, -1, 1, 0, same, none, ro, ""},
	{"SINTERSTORE", -3, 1, -1, 1, 0, same, none, rw, ""},
	{"SUNION", -2, 1, -1, 1, 0, same, none, ro, ""},
	{"SUNIONSTORE", -3, 1, -1, 1, 0, same, none, rw, ""},
	{"SINTERCARD", -3, 0, 0, 0, 1, same, none, ro, ""},

	// sorted sets
	{"ZADD", -4, 1, 1, 1, 0, single, none, rw, ""},
	{"ZCARD", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"ZCOUNT", 4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZINCRBY", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"ZLEXCOUNT", 4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZMSCORE", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"ZPOPMAX", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"ZPOPMIN", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"ZRANDMEMBER", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"ZRANGE", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZRANGEBYLEX", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZRANGEBYSCORE", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZRANK", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"ZREM", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"ZREMRANGEBYLEX", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"ZREMRANGEBYRANK", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"ZREMRANGEBYSCORE", 4, 1, 1, 1, 0, single, none, rw, ""},
	{"ZREVRANGE", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZREVRANGEBYLEX", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZREVRANGEBYSCORE", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"ZREVRANK", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"ZSCAN", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"ZSCORE", 3, 1, 1, 1, 0, single, none, ro, ""},
	{"ZRANGESTORE", -5, 1, 2, 1, 0, same, none, rw, ""},
	{"ZUNION", -3, 0, 0, 0, 1, same, none, ro, ""},
	{"ZINTER", -3, 0, 0, 0, 1, same, none, ro, ""},
	{"ZDIFF", -3, 0, 0, 0, 1, same, none, ro, ""},
	{"ZINTERCARD", -3, 0, 0, 0, 1, same, none, ro, ""},
	{"ZUNIONSTORE", -4, 1, 1, 1, 2, same, none, rw, ""},
	{"ZINTERSTORE", -4, 1, 1, 1, 2, same, none, rw, ""},
	{"ZDIFFSTORE", -4, 1, 1, 1, 2, same, none, rw, ""},
	{"ZMPOP", -4, 0, 0, 0, 1, same, none, rw, ""},
	{"BZPOPMIN", -3, 0, 0, 0, 0, unsup, none, rw, whyBlock},
	{"BZPOPMAX", -3, 0, 0, 0, 0, unsup, none, rw, whyBlock},
	{"BZMPOP", -5, 0, 0, 0, 0, unsup, none, rw, whyBlock},

	// hyperloglog
	{"PFADD", -2, 1, 1, 1, 0, single, none, rw, ""},
	{"PFCOUNT", -2, 1, -1, 1, 0, same, none, ro, ""},
	{"PFMERGE", -2, 1, -1, 1, 0, same, none, rw, ""},

	// geo
	{"GEOADD", -5, 1, 1, 1, 0, single, none, rw, ""},
	{"GEODIST", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"GEOHASH", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"GEOPOS", -2, 1, 1, 1, 0, single, none, ro, ""},
	{"GEORADIUS", -6, 1, 1, 1, 0, single, none, rw, ""},
	{"GEORADIUS_RO", -6, 1, 1, 1, 0, single, none, ro, ""},
	{"GEORADIUSBYMEMBER", -5, 1, 1, 1, 0, single, none, rw, ""},
	{"GEORADIUSBYMEMBER_RO", -5, 1, 1, 1, 0, single, none, ro, ""},
	{"GEOSEARCH", -7, 1, 1, 1, 0, single, none, ro, ""},
	{"GEOSEARCHSTORE", -8, 1, 2, 1, 0, same, none, rw, ""},

	// streams (one key)
	{"XADD", -5, 1, 1, 1, 0, single, none, rw, ""},
	{"XLEN", 2, 1, 1, 1, 0, single, none, ro, ""},
	{"XRANGE", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"XREVRANGE", -4, 1, 1, 1, 0, single, none, ro, ""},
	{"XDEL", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"XTRIM", -4, 1, 1, 1, 0, single, none, rw, ""},
	{"XACK", -4, 1, 1, 1, 0, single, none, rw, ""},
	{"XCLAIM", -6, 1, 1, 1, 0, single, none, rw, ""},
	{"XAUTOCLAIM", -6, 1, 1, 1, 0, single, none, rw, ""},
	{"XPENDING", -3, 1, 1, 1, 0, single, none, ro, ""},
	{"XSETID", -3, 1, 1, 1, 0, single, none, rw, ""},
	{"XINFO", -2, 2, 2, 1, 0, single, none, ro, ""},
	{"XGROUP", -2, 2, 2, 1, 0, single, none, rw, ""},
	{"XREAD", -4, 0, 0, 0, 0, unsup, none, ro, whyXRead},
	{"XREADGROUP", -7, 0, 0, 0, 0, unsup, none, rw, whyXRead},

	// scripting
	{"EVAL", -3, 0, 0, 0, 2, eval, none, rw, ""},
	{"EVALSHA", -3, 0, 0, 0, 2, eval, none, rw, ""},
	{"EVAL_RO", -3, 0, 0, 0, 2, eval, none, ro, ""},
	{"EVALSHA_RO", -3, 0, 0, 0, 2, eval, none, ro, ""},
	{"FCALL", -3, 0, 0, 0, 2, eval, none, rw, ""},
	{"FCALL_RO", -3, 0, 0, 0, 2, eval, none, ro, ""},
	{"SCRIPT", -2, 0, 0, 0, 0, unsup, none, rw, whyScript},
	{"FUNCTION", -2, 0, 0, 0, 0, unsup, none, rw, whyScript},

	// connection, answered by the proxy
	{"PING", -1, 0, 0, 0, 0, local, none, ro, ""},
	{"ECHO", 2, 0, 0, 0, 0, local, none, ro, ""},
	{"QUIT", -1, 0, 0, 0, 0, local, none, ro, ""},
	{"AUTH", -2, 0, 0, 0, 0, local, none, ro, ""},
	{"SELECT", 2, 0, 0, 0, 0, local, none, ro, ""},
	{"HELLO", -1, 0, 0, 0, 0, local, none, ro, ""},
	{"CLIENT", -2, 0, 0, 0, 0, local, none, ro, ""},
	{"COMMAND", -1, 0, 0, 0, 0, local, none, ro, ""},
	{"INFO", -1, 0, 0, 0, 0, local, none, ro, ""},
	{"TIME", 1, 0, 0, 0, 0, local, none, ro, ""},
	{"LOLWUT", -1, 0, 0, 0, 0, local, none, ro, ""},

	// transactions
	{"MULTI", 1, 0, 0, 0, 0, unsup, none, ro, whyTx},
	{"EXEC", 1, 0, 0, 0, 0, unsup, none, rw, whyTx},
	{"DISCARD", 1, 0, 0, 0, 0, unsup, none, ro, whyTx},
	{"WATCH", -2, 0, 0, 0, 0, unsup, none, ro, whyTx},
	{"UNWATCH", 1, 0, 0, 0, 0, unsup, none, ro, whyTx},

	// pub/sub
	{"SUBSCRIBE", -2, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"UNSUBSCRIBE", -1, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"PSUBSCRIBE", -2, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"PUNSUBSCRIBE", -1, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"SSUBSCRIBE", -2, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"SUNSUBSCRIBE", -1, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"PUBLISH", 3, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"SPUBLISH", 3, 0, 0, 0, 0, unsup, none, ro, whyPubSub},
	{"PUBSUB", -2, 0, 0, 0, 0, unsup, none, ro, whyPubSub},

	// server administration
	{"CONFIG", -2, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"SHUTDOWN", -1, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"DEBUG", -2, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"MONITOR", 1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"SYNC", 1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"PSYNC", -3, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"REPLCONF", -1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"SAVE", 1, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"BGSAVE", -1, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"BGREWRITEAOF", 1, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"LASTSAVE", 1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"SLAVEOF", 3, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"REPLICAOF", 3, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"FAILOVER", -1, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"ROLE", 1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"ACL", -2, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"SLOWLOG", -2, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"LATENCY", -2, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"MEMORY", -2, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"MODULE", -2, 0, 0, 0, 0, unsup, none, rw, whyAdmin},
	{"CLUSTER", -2, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"READONLY", 1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"READWRITE", 1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
	{"ASKING", 1, 0, 0, 0, 0, unsup, none, ro, whyAdmin},
}
