package engine

import (
	"github.com/bytedance/gopkg/lang/mcache"

	"github.com/ferry-proxy/ferry/codec/memcache"
	"github.com/ferry-proxy/ferry/codec/resp"
)

// request is one client command in flight, or one fragment of a split
// multi-key command. It is owned by its loop and recycled through
// loop.freeReqs; fields are reset in loop.putReq.
type request struct {
	cli    *client  // nil once orphaned (client closed before the reply)
	parent *request // set on fragments of a split command
	bc     *backendConn

	// out holds the bytes to send when the request owns them: fragments
	// (re-encoded) and requests queued while their connection is being
	// dialled. Otherwise the raw bytes are views into the client's input and
	// are written before that input is discarded.
	out []byte

	// reply is the stored reply once the request is done but cannot be sent
	// yet (it is not at the head of its client's queue, or it is a fragment).
	reply      []byte
	replyOwned bool // reply is an mcache buffer to free
	done       bool

	sentAt  int64  // unix nanos, for the pool timeout
	wireEnd uint64 // its end in its connection's bytes handed to gnet (backendConn.queued)

	arrived int64   // lp.now when it was parsed, for latency (see latency.go)
	meta    reqMeta // its class, command and key length, for latency and the slow log

	// multi-key fan-out (parent side)
	merge   resp.Merge
	frags   []*request
	pending int     // fragments still waiting
	owner   []int32 // MGET: per key, the fragment index that holds it
	nkeys   int

	cursor int   // fragment: merge cursor into its reply
	server int32 // fragment: the server it goes to
	group  int32 // fragment: its group in the split, the server or (cluster) the slot

	// Redis Cluster (cluster.go): redirects followed so far, ASKING to be
	// sent before the next send, and the node a redirect named that the
	// map does not (yet), while parked (an ownedBuf buffer).
	redirects uint8
	asking    bool
	slot      uint16 // its keys' slot
	moveTo    []byte
	parkedAt  int64 // when it was first parked (lp.now)

	// Hand-off (handoff.go): on the loop that owns the connection, the
	// ticket a request handed over by another loop came in (its reply goes
	// back in it), and whether it is a fragment there.
	ticket     *ticket
	ticketItem int // its index in ticket.items
	handFrag   bool

	// internal marks a request the proxy sent on its own (AUTH / SELECT on
	// connect); its reply is checked and dropped.
	internal bool
	// closeAfter closes the client once this reply has been written (QUIT).
	closeAfter bool

	// memcache
	noreply   bool             // text noreply: the server sends nothing back
	mcCmd     memcache.TextCmd // text: tells the reply scanner where the reply ends
	binOp     memcache.Opcode  // binary: the client's opcode
	binOpaque uint32
	binQuiet  bool // binary: a quiet request sent loud (see binaryReply)
	mcMerge   bool // parent of a split text retrieval
	mcVals    memcache.TextValues
	peek      memcache.TextValue
	hasPeek   bool
}

func (r *request) setOwnedReply(b []byte) {
	buf := mcache.Malloc(len(b))
	copy(buf, b)
	r.reply, r.replyOwned, r.done = buf, true, true
}

func (r *request) setStaticReply(b []byte) {
	r.reply, r.replyOwned, r.done = b, false, true
}

// ownedBuf returns a buffer of capacity >= n from the size-class pool.
func ownedBuf(n int) []byte { return mcache.Malloc(0, n) }

func freeBuf(b []byte) {
	if cap(b) > 0 {
		mcache.Free(b)
	}
}
