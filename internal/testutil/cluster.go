package testutil

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClusterSlots is the number of Redis Cluster hash slots.
const ClusterSlots = 16384

// Cluster is a Redis Cluster of masters on loopback, started by
// StartRedisCluster. Node i serves the slots SlotRanges[i] (inclusive).
type Cluster struct {
	Nodes      []*Proc
	BusPorts   []int    // cluster bus port of each node (--cluster-port)
	SlotRanges [][2]int // [first, last] slot of each node
	// Replicas (StartRedisClusterReplicas): Replicas[i] replicates
	// Nodes[i % len(Nodes)].
	Replicas []*Proc
}

// Addrs returns the client addresses of all nodes.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		a[i] = n.Addr
	}
	return a
}

// StartRedisCluster starts masters cluster-enabled redis-server nodes (each
// via StartRedis, with an explicit --cluster-port, node timeout 3000 ms),
// splits the 16384 slots evenly between them (CLUSTER ADDSLOTSRANGE),
// gives each a distinct config epoch, joins them with CLUSTER MEET and waits
// until every node reports cluster_state:ok and knows all nodes. Extra args
// go to every node and may override the defaults (e.g.
// "--cluster-node-timeout", "1000"). Needs redis-server >= 7.0. The test is
// skipped if redis-server is not installed.
func StartRedisCluster(t testing.TB, masters int, args ...string) *Cluster {
	t.Helper()
	return StartRedisClusterReplicas(t, masters, 0, args...)
}

// StartRedisClusterReplicas is StartRedisCluster with replicas per master
// replicas (cluster-enabled nodes that CLUSTER REPLICATE it), for failover
// tests: it also waits until every replica reports its master link up.
func StartRedisClusterReplicas(t testing.TB, masters, replicas int, args ...string) *Cluster {
	t.Helper()
	if masters < 1 {
		t.Fatalf("testutil.StartRedisCluster: masters = %d", masters)
	}
	RequireBinary(t, "redis-server")
	c := &Cluster{}
	var replicaBus []int
	for i := range masters + masters*replicas {
		bus := FreePort(t)
		a := []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "3000",
			"--cluster-port", strconv.Itoa(bus),
		}
		n := StartRedis(t, append(a, args...)...)
		if i < masters {
			c.Nodes = append(c.Nodes, n)
			c.BusPorts = append(c.BusPorts, bus)
		} else {
			c.Replicas = append(c.Replicas, n)
			replicaBus = append(replicaBus, bus)
		}
	}
	fail := func(format string, a ...any) {
		t.Helper() // node cleanups print the log tails
		t.Fatalf("testutil.StartRedisCluster: "+format, a...)
	}
	for i, n := range c.Nodes {
		lo := i * ClusterSlots / masters
		hi := (i+1)*ClusterSlots/masters - 1
		c.SlotRanges = append(c.SlotRanges, [2]int{lo, hi})
		if err := expectOK(n.Addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			fail("%v", err)
		}
		if err := expectOK(n.Addr, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			fail("%v", err)
		}
	}
	for i := 1; i < masters; i++ {
		if err := expectOK(c.Nodes[0].Addr, "CLUSTER", "MEET", Loopback,
			strconv.Itoa(c.Nodes[i].Port), strconv.Itoa(c.BusPorts[i])); err != nil {
			fail("%v", err)
		}
	}
	for i, r := range c.Replicas {
		if err := expectOK(c.Nodes[0].Addr, "CLUSTER", "MEET", Loopback,
			strconv.Itoa(r.Port), strconv.Itoa(replicaBus[i])); err != nil {
			fail("%v", err)
		}
	}
	if err := c.WaitOK(30 * time.Second); err != nil {
		fail("%v", err)
	}
	if len(c.Replicas) == 0 {
		return c
	}
	for i, r := range c.Replicas {
		id, err := RedisDo(c.Nodes[i%masters].Addr, "CLUSTER", "MYID")
		if err != nil {
			fail("%v", err)
		}
		s := string(id)
		if err := expectOK(r.Addr, "CLUSTER", "REPLICATE", strings.TrimSpace(s[strings.Index(s, "\n")+1:])); err != nil {
			fail("%v", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range c.Replicas {
		for {
			info, err := RedisDo(r.Addr, "INFO", "replication")
			if err == nil && bytes.Contains(info, []byte("master_link_status:up")) {
				break
			}
			if time.Now().After(deadline) {
				fail("replica %s: master link not up: %q %v", r.Addr, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := c.WaitOK(30 * time.Second); err != nil {
		fail("%v", err)
	}
	return c
}

// WaitOK polls CLUSTER INFO on every running node until each reports
// cluster_state:ok and knows all len(c.Nodes) nodes, or timeout passes.
// Use it after restarting a node. Killed / stopped nodes make it time out.
func (c *Cluster) WaitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	backoff := 5 * time.Millisecond
	want := "cluster_known_nodes:" + strconv.Itoa(len(c.Nodes)+len(c.Replicas))
	for {
		var bad string
		for _, n := range append(slices.Clone(c.Nodes), c.Replicas...) {
			info, err := RedisDo(n.Addr, "CLUSTER", "INFO")
			switch {
			case err != nil:
				bad = fmt.Sprintf("%s: %v", n.Addr, err)
			case !bytes.Contains(info, []byte("cluster_state:ok")) || !bytes.Contains(info, []byte(want)):
				bad = fmt.Sprintf("%s: %s", n.Addr, strings.ReplaceAll(string(info), "\r\n", " "))
			}
			if bad != "" {
				break
			}
		}
		if bad == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok after %v: %s", timeout, bad)
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

func expectOK(addr string, args ...string) error {
	r, err := RedisDo(addr, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %v", addr, strings.Join(args, " "), err)
	}
	if string(r) != "+OK\r\n" {
		return fmt.Errorf("%s %s: %q", addr, strings.Join(args, " "), r)
	}
	return nil
}
