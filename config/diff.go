package config

import (
	"slices"
	"strings"
)

// poolSettings lists the keys of a pool that DiffPool compares, with their
// values; listen and servers are compared by the caller, which says what
// changed in them.
var poolSettings = []struct {
	key string
	val func(p *Pool) any
}{
	{"hash", func(p *Pool) any { return p.Hash }},
	{"hash_tag", func(p *Pool) any { return p.HashTag }},
	{"distribution", func(p *Pool) any { return p.Distribution }},
	{"timeout", func(p *Pool) any { return p.Timeout }},
	{"backlog", func(p *Pool) any { return p.Backlog }},
	{"preconnect", func(p *Pool) any { return p.Preconnect }},
	{"reuseport", func(p *Pool) any { return p.ReusePort }},
	{"protocol", func(p *Pool) any { return p.Protocol }},
	{"redis_auth", func(p *Pool) any { return p.RedisAuth }},
	{"redis_db", func(p *Pool) any { return p.RedisDB }},
	{"server_connections", func(p *Pool) any { return p.ServerConnections }},
	{"server_connections_scope", func(p *Pool) any { return p.ServerConnectionsScope }},
	{"auto_eject_hosts", func(p *Pool) any { return p.AutoEjectHosts }},
	{"server_retry_timeout", func(p *Pool) any { return p.ServerRetryTimeout }},
	{"server_failure_limit", func(p *Pool) any { return p.ServerFailureLimit }},
	{"client_connections", func(p *Pool) any { return p.ClientConnections }},
	{"tcpkeepalive", func(p *Pool) any { return p.TCPKeepalive }},
	{"slowlog_threshold_ms", func(p *Pool) any { return p.SlowlogThreshold }},
	{"max_request_bytes", func(p *Pool) any { return p.Limits.MaxRequestBytes }},
	{"max_inflight", func(p *Pool) any { return p.Limits.MaxInflight }},
	{"max_output_bytes", func(p *Pool) any { return p.Limits.MaxOutputBytes }},
	{"client_idle_timeout", func(p *Pool) any { return p.Limits.ClientIdleTimeout }},
	{"max_multibulk_len", func(p *Pool) any { return p.Limits.MaxArrayLen }},
	{"max_value_bytes", func(p *Pool) any { return p.Limits.MaxValueBytes }},
	{"cluster_emulation", func(p *Pool) any { return p.ClusterEmulation }},
	{"announce", func(p *Pool) any { return p.Announce }},
	{"cluster_peers", func(p *Pool) any { return strings.Join(p.ClusterPeers, ",") }},
}

// DiffPool returns the keys, other than listen and servers, whose values
// differ between two versions of a pool (values are not given: redis_auth
// is a secret).
func DiffPool(a, b *Pool) []string {
	var keys []string
	for _, s := range poolSettings {
		if s.val(a) != s.val(b) {
			keys = append(keys, s.key)
		}
	}
	return keys
}

// SameServers reports whether two versions of a pool have the same servers
// list (address, weight and name, in order).
func SameServers(a, b *Pool) bool {
	return slices.EqualFunc(a.Servers, b.Servers, func(x, y Server) bool {
		return x.Addr == y.Addr && x.Network == y.Network && x.Weight == y.Weight && x.Name == y.Name
	})
}
