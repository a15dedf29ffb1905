package engine

import (
	"crypto/sha1"
	"encoding/hex"
	"hash/fnv"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/backend/cluster"
	"github.com/ferry-proxy/ferry/codec/resp"
)

// Cluster emulation, the announced map: what a pool with
// cluster_emulation tells cluster clients (CLUSTER SLOTS, SHARDS, NODES,
// INFO, MYID). It is a pure function of this ferry's announced address and
// the live members of its fleet, so every member that sees the same live
// set announces the same map:
//
//   - the members (this ferry and its live peers) sorted by address, member
//     i of n the master of slots [i*16384/n, (i+1)*16384/n - 1]: contiguous,
//     no hole, no overlap;
//   - node ids: the SHA-1 of the announced address, in hex (40 characters,
//     the same across restarts and on every member);
//   - epochs derived from the live set: node i's config epoch is base+i and
//     the current epoch base+n-1, base a hash of the set, so the epoch
//     changes when the set does and is the same on every member.
//
// Every member serves every key by its own pool: the map only spreads the
// clients' connections, and no member ever answers MOVED.

// clusterNode is one member of the announced map.
type clusterNode struct {
	addr   string // announced "host:port"
	host   string
	port   int
	id     string // 40 hex digits
	epoch  uint64 // config epoch
	lo, hi int    // its slots, inclusive
}

// clusterView is an immutable announced map with its replies prebuilt: a
// CLUSTER command costs one atomic load and a shared reply.
type clusterView struct {
	nodes []clusterNode // sorted by addr
	self  int           // this ferry's index in nodes
	epoch uint64        // cluster_current_epoch

	slots, shards, nodesReply, info, myID []byte
}

// nodeID is the node id of a member announced at addr.
func nodeID(addr string) string {
	sum := sha1.Sum([]byte(addr))
	return hex.EncodeToString(sum[:])
}

// slotRange is member i's share of the slots among n members.
func slotRange(i, n int) (lo, hi int) {
	return i * cluster.Slots / n, (i+1)*cluster.Slots/n - 1
}

// fleetEpoch is the epoch base of a live set (sorted addresses): in
// [1, 2^30], the same for the same set on every member.
func fleetEpoch(members []string) uint64 {
	h := fnv.New64a()
	for _, m := range members {
		_, _ = h.Write([]byte(m))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()%(1<<30) + 1
}

// newClusterView builds the map announced by the ferry at self when the
// peers live are up (self need not be among them).
func newClusterView(self string, live []string) *clusterView {
	members := append([]string{self}, live...)
	slices.Sort(members)
	members = slices.Compact(members)
	n := len(members)
	base := fleetEpoch(members)
	v := &clusterView{nodes: make([]clusterNode, n), epoch: base + uint64(n) - 1}
	for i, addr := range members {
		host, port, _ := net.SplitHostPort(addr) // validated by config
		p, _ := strconv.Atoi(port)
		lo, hi := slotRange(i, n)
		v.nodes[i] = clusterNode{addr: addr, host: host, port: p, id: nodeID(addr), epoch: base + uint64(i), lo: lo, hi: hi}
		if addr == self {
			v.self = i
		}
	}
	v.build()
	return v
}

func (v *clusterView) build() {
	me := &v.nodes[v.self]

	// CLUSTER SLOTS: [[lo, hi, [host, port, id]], ...]
	b := resp.AppendArrayHeader(nil, len(v.nodes))
	for _, nd := range v.nodes {
		b = resp.AppendArrayHeader(b, 3)
		b = resp.AppendInt(b, int64(nd.lo))
		b = resp.AppendInt(b, int64(nd.hi))
		b = resp.AppendArrayHeader(b, 3)
		b = resp.AppendBulkString(b, nd.host)
		b = resp.AppendInt(b, int64(nd.port))
		b = resp.AppendBulkString(b, nd.id)
	}
	v.slots = b

	// CLUSTER SHARDS (RESP2: maps as flat arrays of key, value)
	b = resp.AppendArrayHeader(nil, len(v.nodes))
	for _, nd := range v.nodes {
		b = resp.AppendArrayHeader(b, 4)
		b = resp.AppendBulkString(b, "slots")
		b = resp.AppendArrayHeader(b, 2)
		b = resp.AppendInt(b, int64(nd.lo))
		b = resp.AppendInt(b, int64(nd.hi))
		b = resp.AppendBulkString(b, "nodes")
		b = resp.AppendArrayHeader(b, 1)
		b = resp.AppendArrayHeader(b, 14)
		b = resp.AppendBulkString(resp.AppendBulkString(b, "id"), nd.id)
		b = resp.AppendInt(resp.AppendBulkString(b, "port"), int64(nd.port))
		b = resp.AppendBulkString(resp.AppendBulkString(b, "ip"), nd.host)
		b = resp.AppendBulkString(resp.AppendBulkString(b, "endpoint"), nd.host)
		b = resp.AppendBulkString(resp.AppendBulkString(b, "role"), "master")
		b = resp.AppendInt(resp.AppendBulkString(b, "replication-offset"), 0)
		b = resp.AppendBulkString(resp.AppendBulkString(b, "health"), "online")
	}
	v.shards = b

	// CLUSTER NODES: one line per node, as redis writes them; there is no
	// cluster bus (port 0), no ping is ever pending.
	var s strings.Builder
	for i, nd := range v.nodes {
		flags := "master"
		if i == v.self {
			flags = "myself,master"
		}
		s.WriteString(nd.id + " " + nd.host + ":" + strconv.Itoa(nd.port) + "@0 " + flags + " - 0 0 " +
			strconv.FormatUint(nd.epoch, 10) + " connected " + strconv.Itoa(nd.lo) + "-" + strconv.Itoa(nd.hi) + "\n")
	}
	v.nodesReply = resp.AppendBulkString(nil, s.String())

	n := strconv.Itoa(len(v.nodes))
	v.info = resp.AppendBulkString(nil, "cluster_state:ok\r\n"+
		"cluster_slots_assigned:16384\r\n"+
		"cluster_slots_ok:16384\r\n"+
		"cluster_slots_pfail:0\r\n"+
		"cluster_slots_fail:0\r\n"+
		"cluster_known_nodes:"+n+"\r\n"+
		"cluster_size:"+n+"\r\n"+
		"cluster_current_epoch:"+strconv.FormatUint(v.epoch, 10)+"\r\n"+
		"cluster_my_epoch:"+strconv.FormatUint(me.epoch, 10)+"\r\n"+
		"cluster_stats_messages_sent:0\r\n"+
		"cluster_stats_messages_received:0\r\n"+
		"total_cluster_links_buffer_limit_exceeded:0\r\n")
	v.myID = resp.AppendBulkString(nil, me.id)
}

// hasNode reports whether id is a member's node id.
func (v *clusterView) hasNode(id []byte) bool {
	for i := range v.nodes {
		if v.nodes[i].id == string(id) {
			return true
		}
	}
	return false
}
