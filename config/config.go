// Package config reads ferry's configuration file: twemproxy's (nutcracker's)
// YAML, with the same meaning, plus a few ferry extension keys.
//
// A file is a mapping of pool name to pool settings:
//
//	alpha:
//	  listen: 127.0.0.1:22121
//	  hash: fnv1a_64
//	  distribution: ketama
//	  redis: true
//	  servers:
//	   - 127.0.0.1:6379:1 server1
//
// # twemproxy keys
//
// Every key twemproxy knows (see its src/nc_conf.c) is accepted, with the same
// values and defaults:
//
//   - listen (required): "host:port", or an absolute unix socket path with
//     optional octal permissions ("/tmp/x.sock 0666").
//   - hash: one of [HashNames]; default fnv1a_64.
//   - hash_tag: exactly two bytes, e.g. "{}".
//   - distribution: one of [DistributionNames]; default ketama. ferry adds
//     [DistributionRedisCluster] ("redis_cluster").
//   - timeout: milliseconds; default none (wait forever). 0 also means none.
//   - backlog: listen backlog; default 512.
//   - client_connections: maximum client connections; default 0 = unlimited.
//   - redis: true for a Redis pool, false (default) for memcache.
//   - redis_auth: password sent with AUTH on each server connection; only
//     allowed on a redis pool.
//   - redis_db: database selected on each server connection; default 0.
//   - server_connections: connections to each server; default 1, 0 is an
//     error. In ferry this is the number per event loop, unless
//     server_connections_scope is "process".
//   - server_connections_scope (ferry): "loop" (default): every event loop
//     opens server_connections to each server; "process": the whole process
//     opens server_connections to each server, as twemproxy does, and loops
//     that own none hand their requests to one that does.
//   - auto_eject_hosts, server_retry_timeout (ms, default 30000),
//     server_failure_limit (default 2).
//   - preconnect, tcpkeepalive, reuseport: booleans, default false.
//   - servers (required, non-empty): a list of "host:port:weight [name]" or
//     "/unix/path:weight [name]".
//
// As in twemproxy, booleans are exactly "true" or "false", and numbers are
// unsigned decimal integers (no sign, no exponent, no underscores, no hex);
// quoting a value does not change its meaning.
//
// # ferry extension keys
//
//   - protocol: "redis", "memcache" or "memcache_binary". When both protocol
//     and redis are given they must agree (redis: true with protocol: redis,
//     redis: false with a memcache protocol). Without protocol the pool speaks
//     redis when redis is true, else memcache (text).
//   - max_request_bytes: largest request a client may send, in bytes; default
//     [DefaultMaxRequestBytes] (1 GiB, Redis's client-query-buffer-limit). A
//     single Redis argument is also bounded by Redis's proto-max-bulk-len
//     (512 MiB).
//   - max_inflight: requests a client may have in flight before ferry stops
//     reading from it; default [DefaultMaxInflight] (1024).
//   - max_output_bytes: replies buffered for one client before that client is
//     closed; default [DefaultMaxOutputBytes] (1 GiB).
//   - client_idle_timeout: milliseconds after which an idle client is closed;
//     default 0 = never.
//   - max_multibulk_len: largest array (multibulk) count a Redis client may
//     declare; default [DefaultMaxArrayLen] (1<<20).
//   - max_value_bytes: largest value a memcache client may store (memcached's
//     item size limit, -I); default [DefaultMaxValueBytes] (1 MiB). Larger
//     values are refused from the command line, before they are buffered.
//   - slowlog_threshold_ms: requests that take at least this many
//     milliseconds, from their arrival to their reply, are logged
//     (rate-limited) and counted; default 0 = off.
//   - cluster_emulation (Redis pools): true makes ferry answer the CLUSTER
//     commands itself, as the master of all slots (or of its share of them
//     in a fleet); default false.
//   - announce: "host:port" announced to cluster clients; default the
//     listen address. Required with cluster_emulation when listen is a
//     wildcard ("0.0.0.0:22121", ":22121", "[::]:22121"); a unix listen
//     cannot be emulated.
//   - cluster_peers: a list of "host:port", the announced addresses of the
//     other ferries of the fleet (the list may include this ferry's own
//     announce, so every member can share one list). Only with
//     cluster_emulation.
//
// All byte sizes and counts are unsigned decimal integers like twemproxy's
// numbers and must be greater than 0.
//
// # YAML
//
// ferry parses standard YAML 1.1 block and flow style with one document.
// Like twemproxy it rejects anchors, aliases (and so merge keys "<<") and
// explicit tags, and more than one document.
//
// # Snapshots
//
// A *Config is an immutable snapshot: nothing changes it after Parse returns,
// and callers must not modify it, so it may be shared between goroutines and
// swapped atomically on reload.
package config

import (
	"os"
	"time"
)

// Defaults, as in twemproxy (src/nc_conf.h) unless marked as ferry's.
const (
	DefaultHash               = "fnv1a_64"
	DefaultDistribution       = "ketama"
	DefaultBacklog            = 512
	DefaultServerConnections  = 1
	DefaultServerRetryTimeout = 30 * time.Second
	DefaultServerFailureLimit = 2
)

// What server_connections counts (Pool.ServerConnectionsScope).
const (
	ScopeLoop    = "loop"    // per event loop (ferry's default)
	ScopeProcess = "process" // per process, as in twemproxy

	// DefaultMaxRequestBytes (ferry) bounds one request: Redis's own
	// client-query-buffer-limit, so that what Redis accepts (an MSET of
	// 80 MB, a 512 MiB value) passes through ferry too. What all clients
	// hold together is bounded by --max-buffered-bytes, not by this.
	DefaultMaxRequestBytes int64 = 1 << 30
	// DefaultMaxInflight (ferry) bounds the requests in flight per client.
	DefaultMaxInflight = 1024
	// DefaultMaxOutputBytes (ferry) bounds buffered replies per client (and
	// the requests a backend connection has not taken). Redis sets no limit
	// on a normal client's output; a reply Redis can build (an MGET of
	// values of 16 MiB and more) must reach the client, so the bound is
	// high and --max-buffered-bytes caps all clients together.
	DefaultMaxOutputBytes int64 = 1 << 30
	// DefaultMaxValueBytes (ferry) is memcached's default item size limit.
	DefaultMaxValueBytes = 1 << 20
	// DefaultMaxArrayLen (ferry) bounds a declared Redis array count
	// (the limit Redis itself used before 7.0).
	DefaultMaxArrayLen = 1 << 20
)

// Protocols a pool may speak (key "protocol").
const (
	ProtocolRedis          = "redis"
	ProtocolMemcache       = "memcache"
	ProtocolMemcacheBinary = "memcache_binary"
)

// Config is a parsed, validated configuration file.
type Config struct {
	File  string  // the file name given to Load or Parse
	Pools []*Pool // in file order
}

// Pool returns the pool called name, or nil.
func (c *Config) Pool(name string) *Pool {
	for _, p := range c.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Pool is one server pool: a listener and the servers its keys are spread over.
type Pool struct {
	Name string
	Line int // line of the pool's key in the file

	Listen        string      // "host:port" as for net.Listen ("[::1]:22121"), or a unix socket path
	ListenNetwork string      // "tcp" or "unix"
	ListenPerm    os.FileMode // unix socket permissions ("/tmp/x.sock 0666"); 0 if none given

	Hash         string // one of HashNames(); default fnv1a_64
	HashTag      string // "" or exactly two bytes
	Distribution string // one of DistributionNames(); default ketama

	Timeout    time.Duration // server timeout; 0 = none (twemproxy's default: wait forever)
	Backlog    int           // default 512
	Preconnect bool
	ReusePort  bool // twemproxy's `reuseport` (SO_REUSEPORT on the listener)

	Redis     bool   // the pool speaks Redis (Protocol == "redis")
	Protocol  string // "redis" | "memcache" | "memcache_binary"
	RedisAuth string // "" = no AUTH
	RedisDB   int

	// ServerConnections is twemproxy's server_connections. In ferry it is the
	// number of connections to each server per event loop (default), or for
	// the whole process (ServerConnectionsScope ScopeProcess). Default 1.
	ServerConnections      int
	ServerConnectionsScope string // ScopeLoop (default) or ScopeProcess
	AutoEjectHosts         bool
	ServerRetryTimeout     time.Duration // default 30s
	ServerFailureLimit     int           // default 2

	// ClientConnections is the configured client_connections (0 =
	// unlimited). Note that twemproxy parses this key but never enforces it.
	ClientConnections int
	TCPKeepalive      bool

	// SlowlogThreshold is `slowlog_threshold_ms` (ferry): requests at least
	// this slow are logged and counted. 0 = off.
	SlowlogThreshold time.Duration

	Servers []Server // in file order, never empty
	Limits  Limits   // ferry extensions

	// ClusterEmulation is `cluster_emulation` (ferry, Redis pools): ferry
	// answers CLUSTER SLOTS/SHARDS/NODES/INFO/... itself, announcing
	// itself (and the live members of its fleet) as the masters of all
	// 16384 slots, so cluster-aware clients can use it.
	ClusterEmulation bool
	// Announce is `announce` (ferry): the "host:port" ferry announces to
	// cluster clients. With cluster_emulation and no announce it is the
	// listen address (a wildcard listen needs announce); "" without
	// cluster_emulation.
	Announce string
	// ClusterPeers is `cluster_peers` (ferry): the announced addresses of
	// the other ferries of the fleet, normalized ("host:port"), without
	// duplicates and without Announce itself, sorted.
	ClusterPeers []string
}

// Server is one entry of a pool's servers list.
type Server struct {
	Line int // line of the entry in the file

	Addr    string // as dialled: "host:port" for net.Dial ("[::1]:6379"), or a unix socket path
	Network string // "tcp" or "unix"
	Host    string // host as written (brackets removed); the socket path for unix
	Port    int    // 0 for unix
	Weight  int    // > 0
	Name    string // the optional name after the address; "" when not given

	// Ident is the name twemproxy knows the server by: the ketama
	// continuum is built from it and duplicates are detected by it. It is
	// Name when given; otherwise "host:port" as written in the file, or
	// just "host" when the port is 11211 (libmemcached compatibility), or
	// "/path:" (with the colon) for a unix socket.
	Ident string
}

// Limits are ferry's per-client bounds (extension keys, see the package doc).
type Limits struct {
	MaxRequestBytes   int64         // `max_request_bytes`, default 1 GiB
	MaxInflight       int           // `max_inflight`, default 1024
	MaxOutputBytes    int64         // `max_output_bytes`, default 1 GiB
	ClientIdleTimeout time.Duration // `client_idle_timeout` (ms), default 0 = none
	MaxArrayLen       int           // `max_multibulk_len`, default 1<<20
	MaxValueBytes     int           // `max_value_bytes` (memcache), default 1 MiB
}

// DefaultLimits returns the limits of a pool that sets none.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestBytes: DefaultMaxRequestBytes,
		MaxInflight:     DefaultMaxInflight,
		MaxOutputBytes:  DefaultMaxOutputBytes,
		MaxArrayLen:     DefaultMaxArrayLen,
		MaxValueBytes:   DefaultMaxValueBytes,
	}
}

var hashNames = []string{
	"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
	"fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
}

var distributionNames = []string{"ketama", "modula", "random"}

// DistributionRedisCluster is ferry's `distribution: redis_cluster`: the
// servers are seed nodes of a Redis Cluster, and keys go where the cluster's
// slot map says (CRC16 of the {hash tag}ged key mod 16384). Only for redis
// pools; `hash` is ignored, `hash_tag` must be absent or "{}" (the cluster's
// own rule), and redis_db must be 0 (a cluster has one database).
const DistributionRedisCluster = "redis_cluster"

// IsRedisCluster reports whether the pool's servers are Redis Cluster seeds.
func (p *Pool) IsRedisCluster() bool { return p.Distribution == DistributionRedisCluster }

// HashNames returns the names accepted by `hash`, in twemproxy's order.
func HashNames() []string { return append([]string(nil), hashNames...) }

// DistributionNames returns the names accepted by `distribution`.
func DistributionNames() []string { return append([]string(nil), distributionNames...) }

// Load reads and parses the file at path. A file that cannot be read gives
// the error from os.ReadFile; an invalid file gives an [Errors].
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}
