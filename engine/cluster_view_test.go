package engine

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/codec/resp"
)

func TestClusterNodeID(t *testing.T) {
	// sha1("127.0.0.1:7000"), as `printf %s 127.0.0.1:7000 | sha1sum` writes it
	assert.Equal(t, "866a95987cd8f228c2a99d31f2928d64ebbdcd34", nodeID("127.0.0.1:7000"))
	assert.Len(t, nodeID("[::1]:7000"), 40)
	assert.NotEqual(t, nodeID("127.0.0.1:7000"), nodeID("127.0.0.1:7001"))
}

func TestClusterSlotDivision(t *testing.T) {
	for n := 1; n <= 64; n++ {
		next := 0
		for i := range n {
			lo, hi := slotRange(i, n)
			require.Equal(t, next, lo, "n=%d i=%d: contiguous", n, i)
			require.GreaterOrEqual(t, hi, lo, "n=%d i=%d: not empty", n, i)
			size := hi - lo + 1
			require.True(t, size == 16384/n || size == 16384/n+1, "n=%d i=%d: even, size %d", n, i, size)
			next = hi + 1
		}
		require.Equal(t, 16384, next, "n=%d: all slots", n)
	}
	lo, hi := slotRange(0, 1)
	assert.Equal(t, [2]int{0, 16383}, [2]int{lo, hi})
	lo, hi = slotRange(1, 3)
	assert.Equal(t, [2]int{5461, 10921}, [2]int{lo, hi}) // as redis-cli --cluster create splits 3 masters
}

func TestClusterViewSameOnEveryMember(t *testing.T) {
	fleet := []string{"10.0.0.3:7000", "10.0.0.1:7000", "10.0.0.2:7000"}
	views := make([]*clusterView, len(fleet))
	for i, self := range fleet {
		var peers []string
		for _, a := range fleet {
			if a != self {
				peers = append(peers, a)
			}
		}
		views[i] = newClusterView(self, peers)
	}
	for i, v := range views {
		require.Len(t, v.nodes, 3)
		assert.Equal(t, fleet[i], v.nodes[v.self].addr)
		assert.Equal(t, views[0].nodes, v.nodes, "same members, ranges, ids and epochs")
		assert.Equal(t, views[0].slots, v.slots, "same CLUSTER SLOTS")
		assert.Equal(t, views[0].epoch, v.epoch)
		assert.Equal(t, "10.0.0.1:7000", v.nodes[0].addr, "sorted by address")
		// the NODES text differs only by the myself flag
		assert.Equal(t, 1, strings.Count(string(v.nodesReply), "myself,master"))
		assert.Equal(t, strings.ReplaceAll(string(views[0].nodesReply), "myself,", ""), strings.ReplaceAll(string(v.nodesReply), "myself,", ""))
	}
	// epochs: distinct per node, the current one the largest; a change of
	// the live set changes them
	v := views[0]
	assert.Equal(t, v.nodes[2].epoch, v.epoch)
	assert.Less(t, v.nodes[0].epoch, v.nodes[1].epoch)
	two := newClusterView("10.0.0.3:7000", []string{"10.0.0.1:7000"})
	assert.NotEqual(t, v.epoch, two.epoch)
	require.Len(t, two.nodes, 2)
	assert.Equal(t, [2]int{0, 8191}, [2]int{two.nodes[0].lo, two.nodes[0].hi})
	assert.Equal(t, [2]int{8192, 16383}, [2]int{two.nodes[1].lo, two.nodes[1].hi})
	assert.Equal(t, v.epoch, newClusterView("10.0.0.2:7000", []string{"10.0.0.1:7000", "10.0.0.3:7000"}).epoch, "same set, same epoch")
}

func TestClusterViewReplies(t *testing.T) {
	v := newClusterView("127.0.0.1:7000", nil)
	id := "866a95987cd8f228c2a99d31f2928d64ebbdcd34"
	assert.Equal(t, "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$40\r\n"+id+"\r\n", string(v.slots))
	assert.Equal(t, string(resp.AppendBulkString(nil, id+" 127.0.0.1:7000@0 myself,master - 0 0 "+
		itoa(v.epoch)+" connected 0-16383\n")), string(v.nodesReply))
	assert.Contains(t, string(v.info), "cluster_state:ok\r\ncluster_slots_assigned:16384\r\n")
	assert.Contains(t, string(v.info), "cluster_known_nodes:1\r\ncluster_size:1\r\n")
	assert.Equal(t, "$40\r\n"+id+"\r\n", string(v.myID))
	assert.True(t, strings.HasPrefix(string(v.shards), "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n"+id))
	assert.True(t, v.hasNode([]byte(id)))
	assert.False(t, v.hasNode([]byte("x")))

	six := newClusterView("[::1]:7000", []string{"[::1]:7001"})
	assert.Contains(t, string(six.slots), "$3\r\n::1\r\n:7000\r\n")
}

func TestCommandInfos(t *testing.T) {
	ci := commandInfos()
	get := resp.Lookup([]byte("get"))
	assert.Equal(t, "*10\r\n$3\r\nget\r\n:2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n", string(ci.info[get]))
	eval := resp.Lookup([]byte("EVAL"))
	assert.Contains(t, string(ci.info[eval]), "*2\r\n+write\r\n+movablekeys\r\n:0\r\n:0\r\n:0\r\n")
	mset := resp.Lookup([]byte("mset"))
	assert.Contains(t, string(ci.info[mset]), ":1\r\n:-1\r\n:2\r\n")
	n, _, ok := resp.ArrayLen(ci.all)
	require.True(t, ok)
	assert.Equal(t, len(resp.Commands()), n)
	assert.Equal(t, ":"+itoa(uint64(n))+"\r\n", string(ci.count))
}

func itoa(n uint64) string { return strings.TrimSpace(string(resp.AppendInt(nil, int64(n))[1:])) }
