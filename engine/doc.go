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
//	  └─ flush: one writev per dirty backend connection, then one write per
//	     dirty client; only then Discard the parsed bytes (the views into
//	     gnet's buffer must stay valid until the writes have copied them)
//
//	backend OnTraffic
//	  └─ scan every complete reply; pop the oldest request of that
//	     connection's FIFO (replies come back in send order)
//	       ├─ fragment ─► copy reply; when the last fragment is in, merge
//	       └─ request  ─► if it is the head of its client's queue, its reply
//	                      goes out as a view (no copy), followed by any later
//	                      requests already done; else it is copied and waits
//	  └─ flush dirty clients, then Discard
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
