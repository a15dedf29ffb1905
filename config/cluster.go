package config

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file reads the cluster emulation keys of a pool: cluster_emulation,
// announce and cluster_peers (see the package doc and README "Cluster
// emulation").

// parseAnnounced parses a "host:port" a cluster client can connect to: a
// host (name or IP, IPv6 bare or bracketed) that is not a wildcard, and a
// port. It returns the address normalized as net.JoinHostPort writes it.
func parseAnnounced(s string) (string, string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "invalid address " + strconv.Quote(s) + ": expected \"host:port\""
	}
	host, port, reason := hostPort(s[:i], s[i+1:], false)
	if reason != "" {
		return "", "invalid address " + strconv.Quote(s) + ": " + reason
	}
	if wildcardHost(host) {
		return "", "address " + strconv.Quote(s) + " is a wildcard: announce an address clients can connect to"
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), ""
}

// wildcardHost reports whether host means every interface ("", 0.0.0.0, ::).
func wildcardHost(host string) bool {
	if host == "" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

func (pp *poolParser) setAnnounce(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	addr, reason := parseAnnounced(s)
	if reason != "" {
		pp.errf(v.Line, pp.pool.Name, key, "%s", reason)
		return
	}
	pp.pool.Announce = addr
}

func (pp *poolParser) setClusterPeers(key string, v *yaml.Node) {
	pool := pp.pool
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return // "cluster_peers:" with nothing: no peers
	}
	if v.Kind != yaml.SequenceNode {
		pp.errf(v.Line, pool.Name, key, "must be a list of \"host:port\", not %s", kindName(v))
		return
	}
	if pp.peerLines == nil {
		pp.peerLines = map[string]int{}
	}
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode {
			pp.errf(item.Line, pool.Name, key, "a peer must be a string \"host:port\", not %s", kindName(item))
			continue
		}
		addr, reason := parseAnnounced(item.Value)
		if reason != "" {
			pp.errf(item.Line, pool.Name, key, "%s", reason)
			continue
		}
		if first, dup := pp.peerLines[addr]; dup {
			pp.errf(item.Line, pool.Name, key, "peer %s is listed twice (first at line %d)", addr, first)
			continue
		}
		pp.peerLines[addr] = item.Line
		pool.ClusterPeers = append(pool.ClusterPeers, addr)
	}
}

// finishCluster checks the cluster keys together, once all keys are read:
// announce and cluster_peers need cluster_emulation, which needs a Redis
// pool with an address to announce. It fills the default announce (the
// listen address) and takes this ferry's own address out of the peers.
func (pp *poolParser) finishCluster() {
	pool := pp.pool
	line := pp.seen["cluster_emulation"]
	if !pool.ClusterEmulation {
		for _, k := range []string{"announce", "cluster_peers"} {
			if l, ok := pp.seen[k]; ok {
				pp.errf(l, pool.Name, k, "only valid with \"cluster_emulation: true\"")
			}
		}
		pool.Announce, pool.ClusterPeers = "", nil
		return
	}
	if !pool.Redis {
		pp.errf(line, pool.Name, "cluster_emulation", "only valid for a redis pool")
		return
	}
	if pool.Announce == "" {
		if _, given := pp.seen["announce"]; given {
			return // announce was invalid: already reported
		}
		switch {
		case pool.Listen == "":
			return // listen was invalid or missing: already reported
		case pool.ListenNetwork != "tcp":
			pp.errf(line, pool.Name, "cluster_emulation", "needs a TCP listen address or \"announce: host:port\": cluster clients connect by host and port, not to %s", pool.Listen)
			return
		}
		host, _, err := net.SplitHostPort(pool.Listen)
		if err != nil || wildcardHost(host) {
			pp.errf(line, pool.Name, "cluster_emulation", "listen %s is a wildcard address: add \"announce: host:port\", the address clients and peers reach this ferry by", pool.Listen)
			return
		}
		pool.Announce = pool.Listen
	} else if pool.ListenNetwork == "unix" {
		pp.errf(line, pool.Name, "cluster_emulation", "needs a TCP listen address: %s is a unix socket, which cluster clients cannot reach at %s", pool.Listen, pool.Announce)
		return
	}
	pool.ClusterPeers = slices.DeleteFunc(pool.ClusterPeers, func(a string) bool { return a == pool.Announce })
	slices.Sort(pool.ClusterPeers)
	if len(pool.ClusterPeers) == 0 {
		pool.ClusterPeers = nil
	}
}
