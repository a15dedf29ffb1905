// Package engine is ferry's data path: the gnet event handler, client and
// backend connections, the request lifecycle, reply ordering, and the
// fan-out/merge of multi-key commands.
//
// Request flow (everything below runs on ONE event loop, the client's):
//
//	client OnTraffic
//	  └─ parse every complete request in the inbound bytes (zero copy)
//	       ├─ local command (PING, ECHO, AUTH, SELECT, ...) ─► done at once
//	       ├─ bad/unsupported command ─────────────────────► error reply, done
//	       ├─ single key ─► pool.Pick(key) ─► backendConn.enqueue(raw bytes)
//	       └─ multi key  ─► one fragment per server (re-encoded) ─► enqueue each
//	  └─ enqueue copies small requests into the connection's write buffer
//	     (pieces over 64 KiB are written at once, in place, behind it)
//
//	backend OnTraffic
//	  └─ scan every complete reply; pop the oldest request of that
//	     connection's FIFO (replies come back in send order)
//	       ├─ fragment ─► copy reply; when the last fragment is in, merge
//	       └─ request  ─► if it is the head of its client's queue, its reply
//	                      is appended to the client's write buffer, followed
//	                      by any later requests already done; else it is
//	                      copied and waits
//
//	end of the loop iteration (loop.flush / Server.OnIterationEnd)
//	  └─ one write per dirty backend connection, then one write per dirty
//	     client. With several clients on the loop this runs in
//	     OnIterationEnd, which gnet (patched: third_party/gnet) calls after
//	     the events of one poll and the tasks it ran, before the next poll,
//	     so the requests of many clients share a write to each server
//	     without a wake-up or an allocation; with one client it runs at the
//	     end of the callback.
//
// A redis_cluster pool (cluster.go) routes by the slot map a learner
// goroutine reads (CLUSTER SLOTS) and swaps in like a reload; its requests
// own their bytes (r.out), so that the backend side can send one again on
// -MOVED / -ASK (backend OnTraffic ─► lp.redirect ─► enqueue on the named
// node, in the same place of the client's queue), and split per slot.
//
// A client's replies therefore leave in the order of its requests whatever
// order its backends answer in. Every request lives on its loop's free list;
// the steady state allocates nothing.
//
// Lifetimes: a request is referenced by its client's queue and, while it is
// on the wire, by a backend connection's FIFO. When a client goes away its
// unanswered requests are orphaned (cli = nil) and freed when their replies
// (or failures) arrive, so the backend FIFO never loses its alignment.
package engine
