package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twemproxy's conf/nutcracker.yml (master); the README's copy differs only in
// omega's listen, which carries permissions ("/tmp/gamma 0666").
const nutcrackerYML = `alpha:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  redis: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:6379:1

beta:
  listen: 127.0.0.1:22122
  hash: fnv1a_64
  hash_tag: "{}"
  distribution: ketama
  auto_eject_hosts: false
  timeout: 400
  redis: true
  servers:
   - 127.0.0.1:6380:1 server1
   - 127.0.0.1:6381:1 server2
   - 127.0.0.1:6382:1 server3
   - 127.0.0.1:6383:1 server4

gamma:
  listen: 127.0.0.1:22123
  hash: fnv1a_64
  distribution: ketama
  timeout: 400
  backlog: 1024
  preconnect: true
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 3
  servers:
   - 127.0.0.1:11212:1
   - 127.0.0.1:11213:1

delta:
  listen: 127.0.0.1:22124
  hash: fnv1a_64
  distribution: ketama
  timeout: 100
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:11214:1
   - 127.0.0.1:11215:1
   - 127.0.0.1:11216:1
   - 127.0.0.1:11217:1
   - 127.0.0.1:11218:1
   - 127.0.0.1:11219:1
   - 127.0.0.1:11220:1
   - 127.0.0.1:11221:1
   - 127.0.0.1:11222:1
   - 127.0.0.1:11223:1

omega:
  listen: /tmp/gamma
  hash: hsieh
  distribution: ketama
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:11214:100000
   - 127.0.0.1:11215:1
`

func mustParse(t *testing.T, yml string) *Config {
	t.Helper()
	cfg, err := Parse("test.yml", []byte(yml))
	require.NoError(t, err)
	require.NotNil(t, cfg)
	return cfg
}

func tcp(line int, host string, port, weight int, name, ident string) Server {
	return Server{
		Line: line, Addr: host + ":" + itoa(port), Network: "tcp", Host: host, Port: port,
		Weight: weight, Name: name, Ident: ident,
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// checkNutcracker checks the pools of twemproxy's sample configuration.
func checkNutcracker(t *testing.T, cfg *Config, omegaPerm os.FileMode) {
	t.Helper()
	require.Len(t, cfg.Pools, 5)
	names := []string{}
	for _, p := range cfg.Pools {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"alpha", "beta", "gamma", "delta", "omega"}, names, "file order")

	alpha := cfg.Pool("alpha")
	assert.Equal(t, &Pool{
		Name: "alpha", Line: 1,
		Listen: "127.0.0.1:22121", ListenNetwork: "tcp",
		Hash: "fnv1a_64", Distribution: "ketama",
		Backlog: 512, Redis: true, Protocol: "redis",
		ServerConnections: 1, ServerConnectionsScope: ScopeLoop, AutoEjectHosts: true,
		ServerRetryTimeout: 2 * time.Second, ServerFailureLimit: 1,
		Servers: []Server{tcp(10, "127.0.0.1", 6379, 1, "", "127.0.0.1:6379")},
		Limits:  DefaultLimits(),
	}, alpha)

	beta := cfg.Pool("beta")
	assert.Equal(t, &Pool{
		Name: "beta", Line: 12,
		Listen: "127.0.0.1:22122", ListenNetwork: "tcp",
		Hash: "fnv1a_64", HashTag: "{}", Distribution: "ketama",
		Timeout: 400 * time.Millisecond, Backlog: 512, Redis: true, Protocol: "redis",
		ServerConnections: 1, ServerConnectionsScope: ScopeLoop, ServerRetryTimeout: 30 * time.Second, ServerFailureLimit: 2,
		Servers: []Server{
			tcp(21, "127.0.0.1", 6380, 1, "server1", "server1"),
			tcp(22, "127.0.0.1", 6381, 1, "server2", "server2"),
			tcp(23, "127.0.0.1", 6382, 1, "server3", "server3"),
			tcp(24, "127.0.0.1", 6383, 1, "server4", "server4"),
		},
		Limits: DefaultLimits(),
	}, beta)

	gamma := cfg.Pool("gamma")
	assert.Equal(t, &Pool{
		Name: "gamma", Line: 26,
		Listen: "127.0.0.1:22123", ListenNetwork: "tcp",
		Hash: "fnv1a_64", Distribution: "ketama",
		Timeout: 400 * time.Millisecond, Backlog: 1024, Preconnect: true, Protocol: "memcache",
		ServerConnections: 1, ServerConnectionsScope: ScopeLoop, AutoEjectHosts: true,
		ServerRetryTimeout: 2 * time.Second, ServerFailureLimit: 3,
		Servers: []Server{
			tcp(37, "127.0.0.1", 11212, 1, "", "127.0.0.1:11212"),
			tcp(38, "127.0.0.1", 11213, 1, "", "127.0.0.1:11213"),
		},
		Limits: DefaultLimits(),
	}, gamma)

	delta := cfg.Pool("delta")
	require.NotNil(t, delta)
	assert.Equal(t, 40, delta.Line)
	assert.Equal(t, 100*time.Millisecond, delta.Timeout)
	assert.Equal(t, 1, delta.ServerFailureLimit)
	assert.False(t, delta.Redis)
	require.Len(t, delta.Servers, 10)
	for i, s := range delta.Servers {
		assert.Equal(t, tcp(49+i, "127.0.0.1", 11214+i, 1, "", "127.0.0.1:"+itoa(11214+i)), s)
	}

	omega := cfg.Pool("omega")
	assert.Equal(t, &Pool{
		Name: "omega", Line: 60,
		Listen: "/tmp/gamma", ListenNetwork: "unix", ListenPerm: omegaPerm,
		Hash: "hsieh", Distribution: "ketama",
		Backlog: 512, Protocol: "memcache",
		ServerConnections: 1, ServerConnectionsScope: ScopeLoop, ServerRetryTimeout: 30 * time.Second, ServerFailureLimit: 2,
		Servers: []Server{
			tcp(66, "127.0.0.1", 11214, 100000, "", "127.0.0.1:11214"),
			tcp(67, "127.0.0.1", 11215, 1, "", "127.0.0.1:11215"),
		},
		Limits: DefaultLimits(),
	}, omega)
}

func TestTwemproxyConfNutcracker(t *testing.T) {
	cfg := mustParse(t, nutcrackerYML)
	assert.Equal(t, "test.yml", cfg.File)
	checkNutcracker(t, cfg, 0)
}

func TestTwemproxyReadmeExample(t *testing.T) {
	// testdata/nutcracker.yml is the README's example (omega listens with 0666).
	cfg, err := Load("testdata/nutcracker.yml")
	require.NoError(t, err)
	assert.Equal(t, "testdata/nutcracker.yml", cfg.File)
	checkNutcracker(t, cfg, 0o666)
}

func TestTwemproxyRootAndLeaf(t *testing.T) {
	root := mustParse(t, `root:
  listen: 127.0.0.1:22120
  hash: fnv1a_64
  distribution: ketama
  preconnect: true
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:22121:1
`)
	p := root.Pool("root")
	require.NotNil(t, p)
	assert.True(t, p.Preconnect)
	assert.False(t, p.AutoEjectHosts)
	assert.Equal(t, []Server{tcp(8, "127.0.0.1", 22121, 1, "", "127.0.0.1:22121")}, p.Servers)

	leaf := mustParse(t, `leaf:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:11212:1
   - 127.0.0.1:11213:1
`)
	p = leaf.Pool("leaf")
	require.NotNil(t, p)
	assert.True(t, p.AutoEjectHosts)
	assert.Equal(t, 2*time.Second, p.ServerRetryTimeout)
	assert.Equal(t, 1, p.ServerFailureLimit)
	assert.Len(t, p.Servers, 2)
}

// The examples in twemproxy's notes/recommendation.md (node names).
func TestTwemproxyRecommendationExamples(t *testing.T) {
	cfg := mustParse(t, `web:
  listen: 127.0.0.1:22121
  redis: true
  servers:
   - 127.0.0.1:6379:1
   - 127.0.0.1:6380:1
   - 127.0.0.1:6381:1
   - 127.0.0.1:6382:1
named:
  listen: 127.0.0.1:22122
  redis: true
  servers:
   - 127.0.0.1:6379:1 server1
   - 127.0.0.1:6380:1 server2
   - 127.0.0.1:6381:1 server3
   - 127.0.0.1:6382:1 server4
`)
	for i, s := range cfg.Pool("web").Servers {
		assert.Equal(t, "", s.Name)
		assert.Equal(t, "127.0.0.1:"+itoa(6379+i), s.Ident)
	}
	for i, s := range cfg.Pool("named").Servers {
		assert.Equal(t, "server"+itoa(i+1), s.Name)
		assert.Equal(t, s.Name, s.Ident)
		assert.Equal(t, "127.0.0.1:"+itoa(6379+i), s.Addr)
	}
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, "p:\n  listen: 0.0.0.0:22121\n  servers:\n   - 10.0.0.1:11211:1\n")
	assert.Equal(t, &Pool{
		Name: "p", Line: 1,
		Listen: "0.0.0.0:22121", ListenNetwork: "tcp",
		Hash: "fnv1a_64", Distribution: "ketama",
		Timeout: 0, Backlog: 512, Protocol: "memcache",
		ServerConnections: 1, ServerConnectionsScope: ScopeLoop, ServerRetryTimeout: 30 * time.Second, ServerFailureLimit: 2,
		ClientConnections: 0,
		Servers:           []Server{tcp(4, "10.0.0.1", 11211, 1, "", "10.0.0.1")},
		Limits: Limits{
			MaxRequestBytes: 1 << 30, MaxInflight: 1024, MaxOutputBytes: 1 << 30,
			ClientIdleTimeout: 0, MaxArrayLen: 1 << 20, MaxValueBytes: 1 << 20,
		},
	}, cfg.Pools[0])
}

func TestAllKeys(t *testing.T) {
	cfg := mustParse(t, `full:
  listen: "[::1]:22121"
  client_connections: 100
  tcpkeepalive: true
  reuseport: true
  hash: murmur
  hash_tag: "$$"
  distribution: modula
  timeout: 0
  backlog: 0
  preconnect: true
  redis: true
  redis_auth: s3cret pass
  redis_db: 3
  server_connections: 4
  auto_eject_hosts: true
  server_retry_timeout: 0
  server_failure_limit: 0
  servers:
   - redis-1.example.com:6379:2 a
   - "::1:6380:3"
`)
	p := cfg.Pools[0]
	assert.Equal(t, "[::1]:22121", p.Listen)
	assert.Equal(t, "tcp", p.ListenNetwork)
	assert.Equal(t, 100, p.ClientConnections)
	assert.True(t, p.TCPKeepalive)
	assert.True(t, p.ReusePort)
	assert.Equal(t, "murmur", p.Hash)
	assert.Equal(t, "$$", p.HashTag)
	assert.Equal(t, "modula", p.Distribution)
	assert.Equal(t, time.Duration(0), p.Timeout)
	assert.Equal(t, 0, p.Backlog)
	assert.True(t, p.Preconnect)
	assert.True(t, p.Redis)
	assert.Equal(t, "redis", p.Protocol)
	assert.Equal(t, "s3cret pass", p.RedisAuth)
	assert.Equal(t, 3, p.RedisDB)
	assert.Equal(t, 4, p.ServerConnections)
	assert.True(t, p.AutoEjectHosts)
	assert.Equal(t, time.Duration(0), p.ServerRetryTimeout)
	assert.Equal(t, 0, p.ServerFailureLimit)
	assert.Equal(t, []Server{
		{Line: 20, Addr: "redis-1.example.com:6379", Network: "tcp", Host: "redis-1.example.com", Port: 6379, Weight: 2, Name: "a", Ident: "a"},
		{Line: 21, Addr: "[::1]:6380", Network: "tcp", Host: "::1", Port: 6380, Weight: 3, Ident: "::1:6380"},
	}, p.Servers)
}

func TestEveryHashAndDistribution(t *testing.T) {
	assert.Equal(t, []string{"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
		"fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"}, HashNames())
	assert.Equal(t, []string{"ketama", "modula", "random"}, DistributionNames())
	HashNames()[0] = "changed"
	assert.Equal(t, "one_at_a_time", HashNames()[0], "HashNames returns a copy")

	for _, h := range HashNames() {
		for _, d := range DistributionNames() {
			cfg := mustParse(t, "p:\n  listen: 127.0.0.1:1\n  hash: "+h+"\n  distribution: "+d+"\n  servers:\n   - 127.0.0.1:2:1\n")
			assert.Equal(t, h, cfg.Pools[0].Hash)
			assert.Equal(t, d, cfg.Pools[0].Distribution)
		}
	}
}

// Values are read as twemproxy reads them: the scalar's text, whatever its
// YAML quoting; numbers are digits only; booleans exactly true/false.
func TestTwemproxyValueSyntax(t *testing.T) {
	cfg := mustParse(t, `p:
  listen: '127.0.0.1:22121'
  redis: "true"
  preconnect: 'false'
  timeout: "0400"
  backlog: 0010
  redis_auth: 12345
  servers:
   - "127.0.0.1:06379:01"
`)
	p := cfg.Pools[0]
	assert.True(t, p.Redis)
	assert.False(t, p.Preconnect)
	assert.Equal(t, 400*time.Millisecond, p.Timeout, "leading zeros are decimal, as in twemproxy's nc_atoi")
	assert.Equal(t, 10, p.Backlog)
	assert.Equal(t, "12345", p.RedisAuth)
	s := p.Servers[0]
	assert.Equal(t, 6379, s.Port)
	assert.Equal(t, 1, s.Weight)
	assert.Equal(t, "127.0.0.1:6379", s.Addr)
	assert.Equal(t, "127.0.0.1:06379", s.Ident, "the ketama name is the text as written")

	// An empty redis_auth means no AUTH, as in twemproxy.
	cfg = mustParse(t, "p:\n  listen: 127.0.0.1:1\n  redis_auth:\n  servers:\n   - 127.0.0.1:2:1\n")
	assert.Equal(t, "", cfg.Pools[0].RedisAuth)
	// redis_db is accepted (and unused) on a memcache pool, as in twemproxy.
	cfg = mustParse(t, "p:\n  listen: 127.0.0.1:1\n  redis_db: 2\n  servers:\n   - 127.0.0.1:2:1\n")
	assert.Equal(t, 2, cfg.Pools[0].RedisDB)
}

func TestYAMLStyles(t *testing.T) {
	// Flow style, a document start marker and comments are fine.
	cfg := mustParse(t, "# pools\n---\np: {listen: 127.0.0.1:1, servers: [127.0.0.1:2:1, 127.0.0.1:3:1 b]} # c\n")
	require.Len(t, cfg.Pools, 1)
	assert.Len(t, cfg.Pools[0].Servers, 2)
	assert.Equal(t, "b", cfg.Pools[0].Servers[1].Name)
}

func TestServerStrings(t *testing.T) {
	tests := []struct {
		in   string
		want Server
	}{
		{"127.0.0.1:6379:1", Server{Addr: "127.0.0.1:6379", Network: "tcp", Host: "127.0.0.1", Port: 6379, Weight: 1, Ident: "127.0.0.1:6379"}},
		{"127.0.0.1:11211:5", Server{Addr: "127.0.0.1:11211", Network: "tcp", Host: "127.0.0.1", Port: 11211, Weight: 5, Ident: "127.0.0.1"}},
		{"127.0.0.1:11211:5 mc1", Server{Addr: "127.0.0.1:11211", Network: "tcp", Host: "127.0.0.1", Port: 11211, Weight: 5, Name: "mc1", Ident: "mc1"}},
		{"cache.local:6379:1 with:colon", Server{Addr: "cache.local:6379", Network: "tcp", Host: "cache.local", Port: 6379, Weight: 1, Name: "with:colon", Ident: "with:colon"}},
		{"::1:6379:1", Server{Addr: "[::1]:6379", Network: "tcp", Host: "::1", Port: 6379, Weight: 1, Ident: "::1:6379"}},
		{"[::1]:6379:1", Server{Addr: "[::1]:6379", Network: "tcp", Host: "::1", Port: 6379, Weight: 1, Ident: "[::1]:6379"}},
		{"/var/run/redis.sock:1", Server{Addr: "/var/run/redis.sock", Network: "unix", Host: "/var/run/redis.sock", Weight: 1, Ident: "/var/run/redis.sock:"}},
		{"/var/run/redis.sock:2 r1", Server{Addr: "/var/run/redis.sock", Network: "unix", Host: "/var/run/redis.sock", Weight: 2, Name: "r1", Ident: "r1"}},
		{"127.0.0.1:65535:2147483647", Server{Addr: "127.0.0.1:65535", Network: "tcp", Host: "127.0.0.1", Port: 65535, Weight: 2147483647, Ident: "127.0.0.1:65535"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, reason := parseServer(tt.in)
			require.Empty(t, reason)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestListenAddresses(t *testing.T) {
	tests := []struct {
		in      string
		listen  string
		network string
		perm    os.FileMode
	}{
		{"127.0.0.1:22121", "127.0.0.1:22121", "tcp", 0},
		{"localhost:22121", "localhost:22121", "tcp", 0},
		{"0.0.0.0:22121", "0.0.0.0:22121", "tcp", 0},
		{":22121", ":22121", "tcp", 0},
		{"::1:22121", "[::1]:22121", "tcp", 0},
		{"'[::]:22121'", "[::]:22121", "tcp", 0},
		{"127.0.0.1:022121", "127.0.0.1:22121", "tcp", 0},
		{"/tmp/ferry.sock", "/tmp/ferry.sock", "unix", 0},
		{"/tmp/ferry.sock 0666", "/tmp/ferry.sock", "unix", 0o666},
		{"/tmp/ferry.sock 600", "/tmp/ferry.sock", "unix", 0o600},
		{"/tmp/my dir/ferry.sock 0700", "/tmp/my dir/ferry.sock", "unix", 0o700},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			cfg := mustParse(t, "p:\n  listen: "+tt.in+"\n  servers:\n   - 127.0.0.1:2:1\n")
			p := cfg.Pools[0]
			assert.Equal(t, tt.listen, p.Listen)
			assert.Equal(t, tt.network, p.ListenNetwork)
			assert.Equal(t, tt.perm, p.ListenPerm)
		})
	}
}

func TestExtensions(t *testing.T) {
	cfg := mustParse(t, `r:
  listen: 127.0.0.1:1
  protocol: redis
  max_request_bytes: 1048576
  max_inflight: 16
  max_output_bytes: 8589934592
  client_idle_timeout: 30000
  max_multibulk_len: 1000
  max_value_bytes: 2048
  slowlog_threshold_ms: 25
  servers:
   - 127.0.0.1:2:1
r2:
  listen: 127.0.0.1:3
  protocol: redis
  redis: true
  servers:
   - 127.0.0.1:2:1
mb:
  listen: 127.0.0.1:4
  protocol: memcache_binary
  redis: false
  servers:
   - 127.0.0.1:11211:1
mt:
  listen: 127.0.0.1:5
  protocol: memcache
  servers:
   - 127.0.0.1:11211:1
`)
	r := cfg.Pool("r")
	assert.True(t, r.Redis, "protocol: redis alone makes a redis pool")
	assert.Equal(t, "redis", r.Protocol)
	assert.Equal(t, Limits{
		MaxRequestBytes: 1 << 20, MaxInflight: 16, MaxOutputBytes: 8 << 30,
		ClientIdleTimeout: 30 * time.Second, MaxArrayLen: 1000, MaxValueBytes: 2048,
	}, r.Limits)
	assert.Equal(t, 25*time.Millisecond, r.SlowlogThreshold)
	assert.Zero(t, cfg.Pool("r2").SlowlogThreshold, "slowlog is off by default")
	assert.True(t, cfg.Pool("r2").Redis)
	assert.False(t, cfg.Pool("mb").Redis)
	assert.Equal(t, "memcache_binary", cfg.Pool("mb").Protocol)
	assert.Equal(t, "memcache", cfg.Pool("mt").Protocol)
	assert.Nil(t, cfg.Pool("nope"))

	// redis_auth is fine on a pool made redis by protocol alone.
	cfg = mustParse(t, "p:\n  listen: 127.0.0.1:1\n  protocol: redis\n  redis_auth: pw\n  servers:\n   - 127.0.0.1:2:1\n")
	assert.Equal(t, "pw", cfg.Pools[0].RedisAuth)

	assert.Contains(t, Keys(), "max_multibulk_len")
	assert.Contains(t, Keys(), "reuseport")
}

const okServers = "  servers:\n   - 127.0.0.1:6379:1\n"

func TestBrokenConfigs(t *testing.T) {
	tests := []struct {
		name   string
		yml    string
		line   int
		pool   string // "" for a top-level error
		key    string
		reason string // substring of the reason
	}{
		// YAML itself
		{"syntax bad indent", "p:\n  listen: 127.0.0.1:1\n   x: 2\n", 3, "", "", "YAML syntax error: mapping values are not allowed"},
		{"syntax stray item", "p:\n  listen: 127.0.0.1:1\n  - x\n", 3, "", "", "YAML syntax error: did not find expected key"},
		{"syntax unclosed flow", "\n\np:\n  listen: 127.0.0.1:1\n  servers: [\n", 5, "", "", "YAML syntax error"},
		{"syntax unclosed quote", "p:\n  listen: \"127.0.0.1:1\n", 2, "", "", "YAML syntax error"},
		{"syntax tab", "p:\n  listen: 1\n\tx: 1\n", 3, "", "", "tab character"},
		{"two documents", "p:\n  listen: 127.0.0.1:1\n" + okServers + "---\nq:\n  listen: 127.0.0.1:2\n", 5, "", "", "more than one YAML document"},
		{"anchor", "p:\n  listen: &l 127.0.0.1:1\n" + okServers, 2, "", "", "anchors"},
		{"alias", "p:\n  listen: 127.0.0.1:1\n  hash: &h md5\n  redis_auth: *h\n" + okServers, 4, "", "", "aliases"},
		{"tag", "p:\n  listen: 127.0.0.1:1\n  timeout: !!int 5\n" + okServers, 3, "", "", "explicit YAML tags"},
		{"empty file", "", 1, "", "", "no pools defined"},
		{"comment only", "# nothing\n", 1, "", "", "no pools defined"},
		{"document marker only", "---\n", 1, "", "", "no pools defined"},
		{"empty mapping", "\n{}\n", 2, "", "", "no pools defined"},
		{"pool name not a string", "? [a, b]\n: {listen: 127.0.0.1:1}\n", 1, "", "", "a pool name must be a string, not a list"},
		{"key not a string", "p:\n  listen: 127.0.0.1:1\n  ? {a: 1}\n  : 2\n" + okServers, 3, "p", "", "a key must be a string, not a mapping"},
		{"hash is a list", "p:\n  listen: 127.0.0.1:1\n  hash: [md5]\n" + okServers, 3, "p", "hash", "must be a single value, not a list"},
		{"top level list", "- a\n- b\n", 1, "", "", "must be a mapping of pool name to pool settings"},
		{"top level scalar", "hello\n", 1, "", "", "must be a mapping"},
		{"pool not a mapping", "p: 127.0.0.1:1\n", 1, "p", "", "pool settings must be a mapping"},
		{"pool empty", "p:\n", 1, "p", "", "pool settings must be a mapping"},
		{"empty pool name", "\"\":\n  listen: 127.0.0.1:1\n" + okServers, 1, "", "", "empty pool name"},

		// keys
		{"unknown key", "p:\n  listen: 127.0.0.1:1\n  lisen: 127.0.0.1:2\n" + okServers, 3, "p", "lisen", "unknown key (did you mean \"listen\"?)"},
		{"unknown key far", "p:\n  listen: 127.0.0.1:1\n  frobnicate: 1\n" + okServers, 3, "p", "frobnicate", "unknown key"},
		{"duplicate key", "p:\n  listen: 127.0.0.1:1\n  hash: md5\n  hash: crc16\n" + okServers, 4, "p", "hash", "duplicate key (first at line 3)"},
		{"duplicate servers", "p:\n  listen: 127.0.0.1:1\n" + okServers + okServers, 5, "p", "servers", "duplicate key (first at line 3)"},
		{"missing listen", "p:\n  hash: md5\n" + okServers, 1, "p", "", "missing required key \"listen\""},
		{"missing servers", "p:\n  listen: 127.0.0.1:1\n", 1, "p", "", "missing required key \"servers\""},
		{"value is a list", "p:\n  listen:\n   - 127.0.0.1:1\n" + okServers, 3, "p", "listen", "must be a single value, not a list"},
		{"value is a mapping", "p:\n  listen: 127.0.0.1:1\n  timeout:\n    ms: 5\n" + okServers, 4, "p", "timeout", "must be a single value, not a mapping"},

		// listen
		{"listen no port", "p:\n  listen: 127.0.0.1\n" + okServers, 2, "p", "listen", "invalid address \"127.0.0.1\""},
		{"listen empty", "p:\n  listen:\n" + okServers, 2, "p", "listen", "missing value"},
		{"listen port 0", "p:\n  listen: 127.0.0.1:0\n" + okServers, 2, "p", "listen", "invalid port \"0\""},
		{"listen port big", "p:\n  listen: 127.0.0.1:65536\n" + okServers, 2, "p", "listen", "invalid port \"65536\""},
		{"listen port text", "p:\n  listen: 127.0.0.1:http\n" + okServers, 2, "p", "listen", "invalid port \"http\""},
		{"listen bad host", "p:\n  listen: bad host:1\n" + okServers, 2, "p", "listen", "invalid host \"bad host\""},
		{"listen bad ipv6", "p:\n  listen: \"[1.2.3.4]:1\"\n" + okServers, 2, "p", "listen", "invalid IPv6 address"},
		{"listen relative unix", "p:\n  listen: tmp/x.sock\n" + okServers, 2, "p", "listen", "invalid address"},
		{"listen bad perm", "p:\n  listen: /tmp/x.sock 0999\n" + okServers, 2, "p", "listen", "invalid permissions \"0999\""},
		{"listen perm too big", "p:\n  listen: /tmp/x.sock 1777\n" + okServers, 2, "p", "listen", "at most 0777"},
		{"listen unix too long", "p:\n  listen: /" + strings.Repeat("a", 107) + "\n" + okServers, 2, "p", "listen", "too long"},
		{"same listen", "p:\n  listen: 127.0.0.1:1\n" + okServers + "q:\n  listen: 127.0.0.1:01\n" + okServers, 6, "q", "listen", "address \"127.0.0.1:1\" is already used by pool \"p\" (line 2)"},
		{"same unix listen", "p:\n  listen: /tmp/a 0600\n" + okServers + "q:\n  listen: /tmp/a\n" + okServers, 6, "q", "listen", "already used by pool \"p\""},
		{"duplicate pool", "p:\n  listen: 127.0.0.1:1\n" + okServers + "p:\n  listen: 127.0.0.1:2\n" + okServers, 5, "p", "", "duplicate pool name (first defined at line 1)"},

		// servers
		{"servers empty list", "p:\n  listen: 127.0.0.1:1\n  servers: []\n", 3, "p", "servers", "empty server list"},
		{"servers null", "p:\n  listen: 127.0.0.1:1\n  servers:\n", 3, "p", "servers", "empty server list"},
		{"servers scalar", "p:\n  listen: 127.0.0.1:1\n  servers: 127.0.0.1:2:1\n", 3, "p", "servers", "must be a list"},
		{"server not scalar", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - a: b\n", 4, "p", "servers", "a server must be a string"},
		{"server no weight", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379\n   - 127.0.0.1:6380:1\n", 4, "p", "servers", "invalid server \"127.0.0.1:6379\""},
		{"server host only", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - localhost\n", 4, "p", "servers", "invalid server \"localhost\""},
		{"server zero weight", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379:0\n", 4, "p", "servers", "zero weight"},
		{"server negative weight", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379:-1\n", 4, "p", "servers", "invalid weight \"-1\""},
		{"server weight overflow", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379:2147483648\n", 4, "p", "servers", "invalid weight"},
		{"server bad port", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:99999:1\n", 4, "p", "servers", "invalid port \"99999\""},
		{"server port 0", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:0:1\n", 4, "p", "servers", "invalid port \"0\""},
		{"server no host", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - :6379:1\n", 4, "p", "servers", "missing host"},
		{"server bad host", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - a/b:6379:1\n", 4, "p", "servers", "invalid host \"a/b\""},
		{"server unix colon", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - /tmp/a:b.sock:1\n", 4, "p", "servers", "cannot contain ':'"},
		{"server weight name glued", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379:1\tname\n", 4, "p", "servers", "invalid weight"},
		{"server empty name", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - \"127.0.0.1:6379:1 \"\n", 4, "p", "servers", "empty name"},
		{"server empty", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - \"\"\n", 4, "p", "servers", "empty server"},
		{"duplicate server name", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 10.0.0.1:6379:1 a\n   - 10.0.0.2:6379:1 a\n", 5, "p", "servers", "same name \"a\" as the server at line 4"},
		{"duplicate server addr", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 10.0.0.1:6379:1\n   - 10.0.0.1:6379:2\n", 5, "p", "servers", "same name \"10.0.0.1:6379\""},
		{"duplicate server 11211", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 10.0.0.1:11211:1\n   - 10.0.0.1:11211:3\n", 5, "p", "servers", "same name \"10.0.0.1\" as the server at line 4"},
		{"name clashes with address", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 10.0.0.1:11211:1\n   - 10.0.0.2:1:1 10.0.0.1\n", 5, "p", "servers", "same name \"10.0.0.1\" as the server at line 4"},

		// values
		{"bad hash", "p:\n  listen: 127.0.0.1:1\n  hash: sha1\n" + okServers, 3, "p", "hash", "unknown hash \"sha1\""},
		{"hash case", "p:\n  listen: 127.0.0.1:1\n  hash: MD5\n" + okServers, 3, "p", "hash", "unknown hash \"MD5\""},
		{"bad distribution", "p:\n  listen: 127.0.0.1:1\n  distribution: consistent\n" + okServers, 3, "p", "distribution", "unknown distribution \"consistent\""},
		{"hash_tag one char", "p:\n  listen: 127.0.0.1:1\n  hash_tag: \"{\"\n" + okServers, 3, "p", "hash_tag", "exactly two bytes"},
		{"hash_tag three chars", "p:\n  listen: 127.0.0.1:1\n  hash_tag: \"{}}\"\n" + okServers, 3, "p", "hash_tag", "exactly two bytes"},
		{"hash_tag empty", "p:\n  listen: 127.0.0.1:1\n  hash_tag:\n" + okServers, 3, "p", "hash_tag", "exactly two bytes"},
		{"negative timeout", "p:\n  listen: 127.0.0.1:1\n  timeout: -1\n" + okServers, 3, "p", "timeout", "invalid value \"-1\": expected a non-negative integer"},
		{"float timeout", "p:\n  listen: 127.0.0.1:1\n  timeout: 1.5\n" + okServers, 3, "p", "timeout", "invalid value \"1.5\""},
		{"timeout with unit", "p:\n  listen: 127.0.0.1:1\n  timeout: 400ms\n" + okServers, 3, "p", "timeout", "invalid value \"400ms\""},
		{"timeout plus", "p:\n  listen: 127.0.0.1:1\n  timeout: +5\n" + okServers, 3, "p", "timeout", "invalid value \"+5\""},
		{"timeout hex", "p:\n  listen: 127.0.0.1:1\n  timeout: 0x10\n" + okServers, 3, "p", "timeout", "invalid value \"0x10\""},
		{"timeout overflow", "p:\n  listen: 127.0.0.1:1\n  timeout: 2147483648\n" + okServers, 3, "p", "timeout", "out of range (max 2147483647)"},
		{"empty number", "p:\n  listen: 127.0.0.1:1\n  backlog:\n" + okServers, 3, "p", "backlog", "missing value"},
		{"negative backlog", "p:\n  listen: 127.0.0.1:1\n  backlog: -512\n" + okServers, 3, "p", "backlog", "non-negative integer"},
		{"negative client_connections", "p:\n  listen: 127.0.0.1:1\n  client_connections: -1\n" + okServers, 3, "p", "client_connections", "non-negative"},
		{"negative redis_db", "p:\n  listen: 127.0.0.1:1\n  redis: true\n  redis_db: -1\n" + okServers, 4, "p", "redis_db", "non-negative"},
		{"negative failure limit", "p:\n  listen: 127.0.0.1:1\n  server_failure_limit: -2\n" + okServers, 3, "p", "server_failure_limit", "non-negative"},
		{"negative retry", "p:\n  listen: 127.0.0.1:1\n  server_retry_timeout: -2\n" + okServers, 3, "p", "server_retry_timeout", "non-negative"},
		{"server_connections 0", "p:\n  listen: 127.0.0.1:1\n  server_connections: 0\n" + okServers, 3, "p", "server_connections", "must be greater than 0"},
		{"server_connections_scope bad", "p:\n  listen: 127.0.0.1:1\n  server_connections_scope: host\n" + okServers, 3, "p", "server_connections_scope", "unknown scope \"host\" (valid: loop, process)"},
		{"bool yes", "p:\n  listen: 127.0.0.1:1\n  redis: yes\n" + okServers, 3, "p", "redis", "invalid value \"yes\": expected true or false"},
		{"bool True", "p:\n  listen: 127.0.0.1:1\n  preconnect: True\n" + okServers, 3, "p", "preconnect", "invalid value \"True\""},
		{"bool 1", "p:\n  listen: 127.0.0.1:1\n  auto_eject_hosts: 1\n" + okServers, 3, "p", "auto_eject_hosts", "invalid value \"1\""},
		{"bool empty", "p:\n  listen: 127.0.0.1:1\n  tcpkeepalive:\n" + okServers, 3, "p", "tcpkeepalive", "invalid value \"\""},
		{"redis_auth on memcache", "p:\n  listen: 127.0.0.1:1\n  redis_auth: pw\n" + okServers, 3, "p", "redis_auth", "only valid for a redis pool"},
		{"redis_auth with redis false", "p:\n  listen: 127.0.0.1:1\n  redis: false\n  redis_auth: pw\n" + okServers, 4, "p", "redis_auth", "only valid for a redis pool"},

		// extensions
		{"bad protocol", "p:\n  listen: 127.0.0.1:1\n  protocol: http\n" + okServers, 3, "p", "protocol", "unknown protocol \"http\""},
		{"protocol vs redis true", "p:\n  listen: 127.0.0.1:1\n  redis: true\n  protocol: memcache\n" + okServers, 4, "p", "protocol", "contradicts \"redis: true\" (line 3)"},
		{"protocol vs redis false", "p:\n  listen: 127.0.0.1:1\n  protocol: redis\n  redis: false\n" + okServers, 3, "p", "protocol", "contradicts \"redis: false\" (line 4)"},
		{"binary vs redis true", "p:\n  listen: 127.0.0.1:1\n  protocol: memcache_binary\n  redis: true\n" + okServers, 3, "p", "protocol", "contradicts"},
		{"max_request_bytes 0", "p:\n  listen: 127.0.0.1:1\n  max_request_bytes: 0\n" + okServers, 3, "p", "max_request_bytes", "must be greater than 0"},
		{"max_request_bytes unit", "p:\n  listen: 127.0.0.1:1\n  max_request_bytes: 64MiB\n" + okServers, 3, "p", "max_request_bytes", "invalid value \"64MiB\""},
		{"max_output_bytes negative", "p:\n  listen: 127.0.0.1:1\n  max_output_bytes: -1\n" + okServers, 3, "p", "max_output_bytes", "non-negative"},
		{"max_output_bytes overflow", "p:\n  listen: 127.0.0.1:1\n  max_output_bytes: 9223372036854775808\n" + okServers, 3, "p", "max_output_bytes", "out of range"},
		{"max_inflight 0", "p:\n  listen: 127.0.0.1:1\n  max_inflight: 0\n" + okServers, 3, "p", "max_inflight", "must be greater than 0"},
		{"max_multibulk_len 0", "p:\n  listen: 127.0.0.1:1\n  max_multibulk_len: 0\n" + okServers, 3, "p", "max_multibulk_len", "must be greater than 0"},
		{"client_idle_timeout negative", "p:\n  listen: 127.0.0.1:1\n  client_idle_timeout: -5\n" + okServers, 3, "p", "client_idle_timeout", "non-negative"},
		{"slowlog_threshold_ms negative", "p:\n  listen: 127.0.0.1:1\n  slowlog_threshold_ms: -5\n" + okServers, 3, "p", "slowlog_threshold_ms", "non-negative"},
		{"slowlog_threshold_ms unit", "p:\n  listen: 127.0.0.1:1\n  redis: true\n  slowlog_threshold_ms: 10ms\n" + okServers, 4, "p", "slowlog_threshold_ms", "invalid value \"10ms\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("bad.yml", []byte(tt.yml))
			require.Error(t, err)
			assert.Nil(t, cfg)
			var one *Error
			require.True(t, errors.As(err, &one), "errors.As finds an *Error")
			var es Errors
			require.True(t, errors.As(err, &es), "error is an Errors: %T", err)
			require.NotEmpty(t, es)
			var found *Error
			for _, e := range es {
				if strings.Contains(e.Reason, tt.reason) {
					found = e
					break
				}
			}
			require.NotNil(t, found, "no error with reason %q in:\n%v", tt.reason, err)
			assert.Equal(t, "bad.yml", found.File)
			assert.Equal(t, tt.line, found.Line, "line of %v", found)
			assert.Equal(t, tt.pool, found.Pool)
			assert.Equal(t, tt.key, found.Key)

			prefix := "bad.yml:" + itoa(tt.line) + ": "
			if tt.pool != "" {
				prefix += `pool "` + tt.pool + `": `
			}
			if tt.key != "" {
				prefix += `key "` + tt.key + `": `
			}
			assert.True(t, strings.HasPrefix(found.Error(), prefix), "%q does not start with %q", found.Error(), prefix)
			assert.Contains(t, err.Error(), found.Error())
		})
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "f.yml", Line: 3, Pool: "alpha", Key: "hash", Reason: "unknown hash \"x\""}
	assert.Equal(t, `f.yml:3: pool "alpha": key "hash": unknown hash "x"`, e.Error())
	e = &Error{File: "f.yml", Line: 1, Reason: "no pools defined"}
	assert.Equal(t, `f.yml:1: no pools defined`, e.Error())
	e = &Error{File: "f.yml", Line: 7, Pool: "beta", Reason: `missing required key "listen"`}
	assert.Equal(t, `f.yml:7: pool "beta": missing required key "listen"`, e.Error())
}

func TestAllErrorsReportedInLineOrder(t *testing.T) {
	_, err := Parse("f.yml", []byte(`a:
  listen: 127.0.0.1:1
  hash: nope
  servers:
   - 127.0.0.1:2:0
b:
  listen: 127.0.0.1:1
  timeout: soon
  servers:
   - 127.0.0.1:2:1
`))
	require.Error(t, err)
	assert.Equal(t, `f.yml:3: pool "a": key "hash": unknown hash "nope" (valid: one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins)
f.yml:5: pool "a": key "servers": zero weight in server "127.0.0.1:2:0": weight must be greater than 0
f.yml:8: pool "b": key "timeout": invalid value "soon": expected a non-negative integer`, err.Error())
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yml"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, fs.ErrNotExist))

	path := filepath.Join(t.TempDir(), "bad.yml")
	require.NoError(t, os.WriteFile(path, []byte("p:\n  listen: 127.0.0.1:1\n  hash: x\n"+okServers), 0o600))
	_, err = Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+`:3: pool "p": key "hash": unknown hash "x"`)
}

// A failed parse returns every problem; a good one is immutable in the sense
// that parsing the same bytes again gives an equal, separate snapshot.
func TestParseIsDeterministic(t *testing.T) {
	a := mustParse(t, nutcrackerYML)
	b := mustParse(t, nutcrackerYML)
	assert.Equal(t, a, b)
	assert.NotSame(t, a.Pools[0], b.Pools[0])
}

// A syntax error deep in a long file is reported at its own line, quickly.
func TestSyntaxErrorLineInLongFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("p:\n  listen: 127.0.0.1:1\n  servers:\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("   - 10.0.0.1:" + itoa(i+1) + ":1\n")
	}
	b.WriteString("  - 10.0.0.2:1:1\n") // line 1004: wrong indentation
	b.WriteString("   - 10.0.0.3:1:1\n")
	start := time.Now()
	_, err := Parse("big.yml", []byte(b.String()))
	require.Error(t, err)
	assert.Equal(t, "big.yml:1004: YAML syntax error: did not find expected key", err.Error())
	assert.Less(t, time.Since(start), 5*time.Second)
}

// FuzzParse checks that no input makes Parse panic, and that a file Parse
// accepts has the invariants the rest of ferry relies on.
func FuzzParse(f *testing.F) {
	f.Add([]byte(nutcrackerYML))
	f.Add([]byte("p:\n  listen: /tmp/x 0666\n  servers:\n   - /tmp/r.sock:1 a\n"))
	f.Add([]byte("p: {listen: '[::1]:1', protocol: memcache_binary, servers: ['::1:2:3']}\n"))
	f.Add([]byte("p:\n  listen: 127.0.0.1:1\n  servers:\n  - x\n   - y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yml", data)
		if err != nil {
			require.Nil(t, cfg)
			var es Errors
			require.True(t, errors.As(err, &es))
			require.NotEmpty(t, es)
			for _, e := range es {
				require.Positive(t, e.Line, "%v", e)
			}
			return
		}
		require.NotEmpty(t, cfg.Pools)
		for _, p := range cfg.Pools {
			require.NotEmpty(t, p.Servers)
			require.Contains(t, []string{"tcp", "unix"}, p.ListenNetwork)
			require.Equal(t, p.Redis, p.Protocol == ProtocolRedis)
			require.True(t, p.HashTag == "" || len(p.HashTag) == 2)
			for _, s := range p.Servers {
				require.Positive(t, s.Weight)
				require.NotEmpty(t, s.Ident)
				require.NotEmpty(t, s.Addr)
			}
		}
	})
}

func TestDiffPoolCoversEveryKey(t *testing.T) {
	// Every key a pool accepts is compared by DiffPool, or by the caller
	// (listen, servers) or implied by another (redis is protocol).
	compared := map[string]bool{"listen": true, "servers": true, "redis": true}
	for _, s := range poolSettings {
		compared[s.key] = true
	}
	for _, k := range Keys() {
		if !compared[k] {
			t.Errorf("key %q is not compared by DiffPool", k)
		}
	}
	a := &Pool{Hash: "md5", Limits: Limits{MaxInflight: 4}, RedisAuth: "x"}
	b := &Pool{Hash: "crc16", Limits: Limits{MaxInflight: 4}, RedisAuth: "y"}
	if got := DiffPool(a, b); len(got) != 2 || got[0] != "hash" || got[1] != "redis_auth" {
		t.Errorf("DiffPool = %v", got)
	}
}

// A redis_cluster pool: seeds as servers, the cluster's hash tag, no other
// placement settings.
func TestRedisClusterDistribution(t *testing.T) {
	cfg := mustParse(t, "p:\n  listen: 127.0.0.1:1\n  redis: true\n  hash: murmur\n  distribution: redis_cluster\n  servers:\n   - 127.0.0.1:7000:1\n   - 127.0.0.1:7001:1\n")
	p := cfg.Pools[0]
	assert.True(t, p.IsRedisCluster())
	assert.Equal(t, "{}", p.HashTag, "the cluster's hash tag applies without being set")
	mustParse(t, "p:\n  listen: 127.0.0.1:1\n  redis: true\n  hash_tag: \"{}\"\n  distribution: redis_cluster\n  servers:\n   - 127.0.0.1:7000:1\n")

	for yml, want := range map[string]string{
		"p:\n  listen: 127.0.0.1:1\n  distribution: redis_cluster\n  servers:\n   - 127.0.0.1:7000:1\n":                                `test.yml:3: pool "p": key "distribution": redis_cluster is only valid for a redis pool`,
		"p:\n  listen: 127.0.0.1:1\n  redis: true\n  hash_tag: $$\n  distribution: redis_cluster\n  servers:\n   - 127.0.0.1:7000:1\n": `test.yml:4: pool "p": key "hash_tag": a redis_cluster pool uses the cluster's hash tags`,
		"p:\n  listen: 127.0.0.1:1\n  redis: true\n  redis_db: 2\n  distribution: redis_cluster\n  servers:\n   - 127.0.0.1:7000:1\n":  `test.yml:4: pool "p": key "redis_db": a Redis Cluster has only database 0`,
	} {
		_, err := Parse("test.yml", []byte(yml))
		require.Error(t, err, yml)
		assert.Contains(t, err.Error(), want)
	}
}

func TestServerConnectionsScope(t *testing.T) {
	for _, scope := range []string{ScopeLoop, ScopeProcess} {
		cfg, err := Parse("t.yml", []byte("p:\n  listen: 127.0.0.1:1\n  server_connections: 3\n  server_connections_scope: "+scope+"\n  servers:\n    - 127.0.0.1:2:1\n"))
		require.NoError(t, err)
		assert.Equal(t, scope, cfg.Pools[0].ServerConnectionsScope)
		assert.Equal(t, 3, cfg.Pools[0].ServerConnections)
	}
	_, err := Parse("t.yml", []byte("p:\n  listen: 127.0.0.1:1\n  redis: true\n  distribution: redis_cluster\n  server_connections_scope: process\n  servers:\n    - 127.0.0.1:2:1\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "server_connections_scope")
	assert.Contains(t, err.Error(), "not supported with distribution redis_cluster")
}
