package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const clusterServers = "  servers:\n   - 127.0.0.1:6379:1\n"

func TestClusterEmulationKeys(t *testing.T) {
	f := func(yml, announce string, peers []string) {
		t.Helper()
		cfg := mustParse(t, yml)
		p := cfg.Pools[0]
		assert.True(t, p.ClusterEmulation)
		assert.Equal(t, announce, p.Announce)
		assert.Equal(t, peers, p.ClusterPeers)
	}
	// default announce: the listen address
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n"+clusterServers, "127.0.0.1:7000", nil)
	// a wildcard listen with announce; peers sorted, own address dropped
	f("p:\n  listen: 0.0.0.0:7000\n  redis: true\n  cluster_emulation: true\n  announce: 10.0.0.2:7000\n"+
		"  cluster_peers: [10.0.0.3:7000, 10.0.0.1:7000, 10.0.0.2:7000]\n"+clusterServers,
		"10.0.0.2:7000", []string{"10.0.0.1:7000", "10.0.0.3:7000"})
	// IPv6, bare or bracketed; a host name; an empty peer list
	f("p:\n  listen: \"[::1]:7000\"\n  protocol: redis\n  cluster_emulation: true\n  cluster_peers:\n   - ::1:7001\n   - proxy-b.example:7000\n"+clusterServers,
		"[::1]:7000", []string{"[::1]:7001", "proxy-b.example:7000"})
	f("p:\n  listen: :7000\n  redis: true\n  cluster_emulation: true\n  announce: ferry-a:7000\n  cluster_peers:\n"+clusterServers,
		"ferry-a:7000", nil)

	off := mustParse(t, "p:\n  listen: 127.0.0.1:7000\n  redis: true\n"+clusterServers).Pools[0]
	assert.False(t, off.ClusterEmulation)
	assert.Empty(t, off.Announce)
	assert.Nil(t, off.ClusterPeers)
}

func TestClusterEmulationErrors(t *testing.T) {
	f := func(yml string, line int, key, reason string) {
		t.Helper()
		_, err := Parse("bad.yml", []byte(yml))
		require.Error(t, err, yml)
		var es Errors
		require.True(t, errors.As(err, &es))
		for _, e := range es {
			if strings.Contains(e.Reason, reason) {
				assert.Equal(t, line, e.Line, "%v", e)
				assert.Equal(t, key, e.Key, "%v", e)
				return
			}
		}
		t.Errorf("no error %q in:\n%v", reason, err)
	}
	f("p:\n  listen: 0.0.0.0:7000\n  redis: true\n  cluster_emulation: true\n"+clusterServers, 4, "cluster_emulation", "wildcard address: add \"announce")
	f("p:\n  listen: :7000\n  redis: true\n  cluster_emulation: true\n"+clusterServers, 4, "cluster_emulation", "wildcard")
	f("p:\n  listen: \"[::]:7000\"\n  redis: true\n  cluster_emulation: true\n"+clusterServers, 4, "cluster_emulation", "wildcard")
	f("p:\n  listen: /tmp/ferry.sock\n  redis: true\n  cluster_emulation: true\n"+clusterServers, 4, "cluster_emulation", "needs a TCP listen")
	f("p:\n  listen: /tmp/ferry.sock\n  redis: true\n  cluster_emulation: true\n  announce: 10.0.0.1:7000\n"+clusterServers, 4, "cluster_emulation", "unix socket")
	f("p:\n  listen: 127.0.0.1:7000\n  cluster_emulation: true\n"+clusterServers, 3, "cluster_emulation", "only valid for a redis pool")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  announce: 10.0.0.1:7000\n"+clusterServers, 4, "announce", "only valid with \"cluster_emulation: true\"")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: false\n  cluster_peers: [10.0.0.1:7000]\n"+clusterServers, 5, "cluster_peers", "only valid with")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n  announce: 0.0.0.0:7000\n"+clusterServers, 5, "announce", "is a wildcard")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n  announce: 10.0.0.1\n"+clusterServers, 5, "announce", "expected \"host:port\"")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n  announce: 10.0.0.1:0\n"+clusterServers, 5, "announce", "invalid port")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n  cluster_peers: 10.0.0.1:7000\n"+clusterServers, 5, "cluster_peers", "must be a list")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n  cluster_peers:\n   - 10.0.0.1:7000\n   - bad host:1\n"+clusterServers, 7, "cluster_peers", "invalid host")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n  cluster_peers:\n   - 10.0.0.1:7000\n   - 10.0.0.1:7000\n"+clusterServers, 7, "cluster_peers", "listed twice (first at line 6)")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: true\n  cluster_peers:\n   - [10.0.0.1, 7000]\n"+clusterServers, 6, "cluster_peers", "must be a string")
	f("p:\n  listen: 127.0.0.1:7000\n  redis: true\n  cluster_emulation: yes\n"+clusterServers, 4, "cluster_emulation", "expected true or false")
}

func TestDiffPoolClusterKeys(t *testing.T) {
	a := &Pool{ClusterEmulation: true, Announce: "h:1", ClusterPeers: []string{"h:2"}}
	b := &Pool{ClusterEmulation: true, Announce: "h:1", ClusterPeers: []string{"h:2", "h:3"}}
	assert.Equal(t, []string{"cluster_peers"}, DiffPool(a, b))
	assert.Empty(t, DiffPool(a, a))
}
