package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file reads one pool's keys: the table of accepted keys and their
// handlers, value syntax (twemproxy's numbers, booleans, milliseconds), and
// the checks that need the whole pool.

// poolParser holds the state of one pool while its keys are read.
type poolParser struct {
	*parser
	pool *Pool
	seen map[string]int // key -> line

	redisSet, protocolSet   bool
	redisLine, protocolLine int
	peerLines               map[string]int // cluster_peers entry -> line
}

type keyHandler func(pp *poolParser, key string, v *yaml.Node)

// keyHandlers has one entry per accepted key: twemproxy's, then ferry's.
var keyHandlers map[string]keyHandler

func init() {
	keyHandlers = map[string]keyHandler{
		// twemproxy (src/nc_conf.c conf_commands)
		"listen":               (*poolParser).setListen,
		"hash":                 oneOfField(func(p *Pool) *string { return &p.Hash }, "hash", hashNames),
		"hash_tag":             (*poolParser).setHashTag,
		"distribution":         oneOfField(func(p *Pool) *string { return &p.Distribution }, "distribution", append(slices.Clone(distributionNames), DistributionRedisCluster)),
		"timeout":              msField(func(p *Pool) *time.Duration { return &p.Timeout }),
		"backlog":              intField(func(p *Pool) *int { return &p.Backlog }, 0),
		"client_connections":   intField(func(p *Pool) *int { return &p.ClientConnections }, 0),
		"redis":                (*poolParser).setRedis,
		"tcpkeepalive":         boolField(func(p *Pool) *bool { return &p.TCPKeepalive }),
		"reuseport":            boolField(func(p *Pool) *bool { return &p.ReusePort }),
		"redis_auth":           (*poolParser).setRedisAuth,
		"redis_db":             intField(func(p *Pool) *int { return &p.RedisDB }, 0),
		"preconnect":           boolField(func(p *Pool) *bool { return &p.Preconnect }),
		"auto_eject_hosts":     boolField(func(p *Pool) *bool { return &p.AutoEjectHosts }),
		"server_connections":   intField(func(p *Pool) *int { return &p.ServerConnections }, 1),
		"server_retry_timeout": msField(func(p *Pool) *time.Duration { return &p.ServerRetryTimeout }),
		"server_failure_limit": intField(func(p *Pool) *int { return &p.ServerFailureLimit }, 0),
		"servers":              (*poolParser).setServers,

		// ferry extensions
		"protocol":            (*poolParser).setProtocol,
		"max_request_bytes":   int64Field(func(p *Pool) *int64 { return &p.Limits.MaxRequestBytes }),
		"max_inflight":        intField(func(p *Pool) *int { return &p.Limits.MaxInflight }, 1),
		"max_output_bytes":    int64Field(func(p *Pool) *int64 { return &p.Limits.MaxOutputBytes }),
		"client_idle_timeout": msField(func(p *Pool) *time.Duration { return &p.Limits.ClientIdleTimeout }),
		"max_multibulk_len":   intField(func(p *Pool) *int { return &p.Limits.MaxArrayLen }, 1),
		"max_value_bytes":     intField(func(p *Pool) *int { return &p.Limits.MaxValueBytes }, 1),

		// ferry extensions: what server_connections counts (engine/handoff.go)
		"server_connections_scope": oneOfField(func(p *Pool) *string { return &p.ServerConnectionsScope }, "scope", []string{ScopeLoop, ScopeProcess}),

		// ferry extensions: observability
		"slowlog_threshold_ms": msField(func(p *Pool) *time.Duration { return &p.SlowlogThreshold }),

		// ferry extensions: cluster emulation (cluster.go)
		"cluster_emulation": boolField(func(p *Pool) *bool { return &p.ClusterEmulation }),
		"announce":          (*poolParser).setAnnounce,
		"cluster_peers":     (*poolParser).setClusterPeers,
	}
}

// Keys returns every key a pool accepts, sorted.
func Keys() []string {
	keys := make([]string, 0, len(keyHandlers))
	for k := range keyHandlers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (p *parser) parsePool(k, v *yaml.Node) *Pool {
	name := k.Value
	pool := &Pool{
		Name:                   name,
		Line:                   k.Line,
		Hash:                   DefaultHash,
		Distribution:           DefaultDistribution,
		Backlog:                DefaultBacklog,
		Protocol:               ProtocolMemcache,
		ServerConnections:      DefaultServerConnections,
		ServerConnectionsScope: ScopeLoop,
		ServerRetryTimeout:     DefaultServerRetryTimeout,
		ServerFailureLimit:     DefaultServerFailureLimit,
		Limits:                 DefaultLimits(),
	}
	if v.Kind != yaml.MappingNode {
		p.errf(v.Line, name, "", "pool settings must be a mapping of key to value, not %s", kindName(v))
		return nil
	}
	before := len(p.errs)
	pp := &poolParser{parser: p, pool: pool, seen: map[string]int{}}
	for i := 0; i+1 < len(v.Content); i += 2 {
		kn, vn := v.Content[i], v.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			p.errf(kn.Line, name, "", "a key must be a string, not %s", kindName(kn))
			continue
		}
		key := kn.Value
		h, ok := keyHandlers[key]
		if !ok {
			if s := suggest(key); s != "" {
				p.errf(kn.Line, name, key, "unknown key (did you mean %q?)", s)
			} else {
				p.errf(kn.Line, name, key, "unknown key")
			}
			continue
		}
		if first, dup := pp.seen[key]; dup {
			p.errf(kn.Line, name, key, "duplicate key (first at line %d)", first)
			continue
		}
		pp.seen[key] = kn.Line
		h(pp, key, vn)
	}
	pp.finish()
	if len(p.errs) > before {
		return nil
	}
	return pool
}

// finish checks what can only be checked once all keys are read.
func (pp *poolParser) finish() {
	pool := pp.pool
	if _, ok := pp.seen["listen"]; !ok {
		pp.errf(pool.Line, pool.Name, "", "missing required key \"listen\"")
	}
	if _, ok := pp.seen["servers"]; !ok {
		pp.errf(pool.Line, pool.Name, "", "missing required key \"servers\"")
	}
	if pp.redisSet && pp.protocolSet {
		if pool.Redis != (pool.Protocol == ProtocolRedis) {
			pp.errf(pp.protocolLine, pool.Name, "protocol", "protocol %q contradicts \"redis: %t\" (line %d)", pool.Protocol, pool.Redis, pp.redisLine)
		}
	}
	if pp.protocolSet {
		pool.Redis = pool.Protocol == ProtocolRedis
	} else if pool.Redis {
		pool.Protocol = ProtocolRedis
	}
	if pool.IsRedisCluster() {
		pp.checkRedisCluster()
	}
	if line, ok := pp.seen["server_connections_scope"]; ok && pool.ServerConnectionsScope == ScopeProcess && pool.IsRedisCluster() {
		pp.errf(line, pool.Name, "server_connections_scope", "%q is not supported with distribution %s yet: a cluster pool's connections are per event loop", ScopeProcess, DistributionRedisCluster)
	}
	if line, ok := pp.seen["redis_auth"]; ok && pool.RedisAuth != "" && !pool.Redis {
		pp.errf(line, pool.Name, "redis_auth", "only valid for a redis pool")
	}
	pp.finishCluster()
}

// scalar returns v's text, or records an error when v is not a scalar.
// Like twemproxy, the text is taken as written: quoting does not matter and
// an empty value is the empty string.
func (pp *poolParser) scalar(key string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		pp.errf(v.Line, pp.pool.Name, key, "must be a single value, not %s", kindName(v))
		return "", false
	}
	return v.Value, true
}

// parseUint parses a twemproxy number: one or more ASCII digits, nothing else.
func parseUint(s string, max uint64) (uint64, string) {
	if s == "" {
		return 0, "missing value: expected a non-negative integer"
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Sprintf("invalid value %q: expected a non-negative integer", s)
		}
		if n > (max-uint64(c-'0'))/10 {
			return 0, fmt.Sprintf("value %s is out of range (max %d)", s, max)
		}
		n = n*10 + uint64(c-'0')
	}
	return n, ""
}

func (pp *poolParser) uint(key string, v *yaml.Node, max uint64, min uint64) (uint64, bool) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return 0, false
	}
	n, reason := parseUint(s, max)
	if reason != "" {
		pp.errf(v.Line, pp.pool.Name, key, "%s", reason)
		return 0, false
	}
	if n < min {
		pp.errf(v.Line, pp.pool.Name, key, "must be greater than %d", min-1)
		return 0, false
	}
	return n, true
}

// intField handles a twemproxy number (a C int there, so at most MaxInt32).
func intField(field func(*Pool) *int, min uint64) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if n, ok := pp.uint(key, v, math.MaxInt32, min); ok {
			*field(pp.pool) = int(n)
		}
	}
}

func int64Field(field func(*Pool) *int64) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if n, ok := pp.uint(key, v, math.MaxInt64, 1); ok {
			*field(pp.pool) = int64(n)
		}
	}
}

// msField handles a duration given in milliseconds.
func msField(field func(*Pool) *time.Duration) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if n, ok := pp.uint(key, v, math.MaxInt32, 0); ok {
			*field(pp.pool) = time.Duration(n) * time.Millisecond
		}
	}
}

func (pp *poolParser) bool(key string, v *yaml.Node) (bool, bool) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	pp.errf(v.Line, pp.pool.Name, key, "invalid value %q: expected true or false", s)
	return false, false
}

func boolField(field func(*Pool) *bool) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if b, ok := pp.bool(key, v); ok {
			*field(pp.pool) = b
		}
	}
}

func (pp *poolParser) setRedis(key string, v *yaml.Node) {
	if b, ok := pp.bool(key, v); ok {
		pp.pool.Redis = b
		pp.redisSet, pp.redisLine = true, v.Line
	}
}

func (pp *poolParser) setProtocol(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	switch s {
	case ProtocolRedis, ProtocolMemcache, ProtocolMemcacheBinary:
		pp.pool.Protocol = s
		pp.protocolSet, pp.protocolLine = true, v.Line
	default:
		pp.errf(v.Line, pp.pool.Name, key, "unknown protocol %q (valid: redis, memcache, memcache_binary)", s)
	}
}

func (pp *poolParser) setRedisAuth(key string, v *yaml.Node) {
	if s, ok := pp.scalar(key, v); ok {
		pp.pool.RedisAuth = s
	}
}

// oneOfField sets a string field that takes one of names.
func oneOfField(field func(*Pool) *string, what string, names []string) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		s, ok := pp.scalar(key, v)
		if !ok {
			return
		}
		if !slices.Contains(names, s) {
			pp.errf(v.Line, pp.pool.Name, key, "unknown %s %q (valid: %s)", what, s, strings.Join(names, ", "))
			return
		}
		*field(pp.pool) = s
	}
}

func (pp *poolParser) setHashTag(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	if len(s) != 2 {
		pp.errf(v.Line, pp.pool.Name, key, "invalid value %q: must be exactly two bytes (characters), e.g. \"{}\"", s)
		return
	}
	pp.pool.HashTag = s
}

// suggest returns the known key closest to key when it is a likely typo.
func suggest(key string) string {
	best, bestD := "", 3
	for k := range keyHandlers {
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkRedisCluster checks a `distribution: redis_cluster` pool: its
// servers are seeds, and keys are placed by the cluster's rule, so the
// settings that would place them otherwise are refused when they disagree.
// `hash` is ignored: twemproxy files often set it on every pool.
func (pp *poolParser) checkRedisCluster() {
	pool := pp.pool
	line := pp.seen["distribution"]
	if !pool.Redis {
		pp.errf(line, pool.Name, "distribution", "redis_cluster is only valid for a redis pool (redis: true)")
	}
	if l, ok := pp.seen["hash_tag"]; ok && pool.HashTag != "{}" {
		pp.errf(l, pool.Name, "hash_tag", "a redis_cluster pool uses the cluster's hash tags, \"{}\": %q would place keys elsewhere", pool.HashTag)
	}
	pool.HashTag = "{}"
	if l, ok := pp.seen["redis_db"]; ok && pool.RedisDB != 0 {
		pp.errf(l, pool.Name, "redis_db", "a Redis Cluster has only database 0")
	}
}
