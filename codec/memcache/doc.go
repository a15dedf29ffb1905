// Package memcache parses and encodes the memcache text and binary protocols
// on byte slices. It does no I/O and, in steady state, no heap allocation.
//
// # Requests (client -> proxy)
//
// TextParser.Parse and BinaryParser.Parse take b, the unconsumed inbound bytes
// of one connection starting at an unparsed request, and return the length n
// of the first request:
//
//	n, err := p.Parse(b, &req)
//	switch {
//	case err == nil:           // req describes b[:n]; forward b[:n] or re-encode
//	case err == ErrIncomplete: // keep b; call again once len(b) >= p.Need()
//	default:                   // e := err.(*Error)
//		// write e.Reply() (text) or e.AppendBinary(dst, req.Op, req.Opaque)
//		// (binary); if e.Close(), close the connection after the reply,
//		// else discard n bytes (n may exceed len(b): also discard the
//		// next n-len(b) bytes that arrive) and go on parsing.
//	}
//
// After ErrIncomplete the parser keeps a small state so that the next call,
// given the same prefix plus more bytes, neither rescans the command line nor
// the value bytes: pass the same b (it may have moved in memory) until Parse
// returns something other than ErrIncomplete, or call Reset first.
//
// # Validity of views
//
// TextRequest.Keys, TextRequest.Data, BinaryRequest.Key/Extras/Value and
// TextValue.Key/Block/Data are views into the b passed to the call that
// filled them: they are valid while those bytes are neither modified nor
// released (in gnet: until the bytes are discarded or OnTraffic returns). Copy
// anything that must live longer. The next Parse call overwrites the request
// (the Keys slice header is reused, its capacity kept).
//
// # Replies (server -> proxy)
//
// ScanTextReply / TextReplyScanner and ScanBinaryReply find where one reply
// ends. memcached answers the requests of one connection in order, so replies
// are matched to requests FIFO per backend connection; text requests with
// noreply and binary quiet requests (Opcode.Quiet) produce no reply on success
// (getq/getkq/gatq/gatkq produce none on a miss either), so the engine matches
// binary replies by Opaque or ends a quiet run with a noop, whose reply comes
// after all replies to the requests before it.
//
// The Append* functions encode requests and replies the engine has to build
// itself (split multi-gets, merged replies, error replies); they append to dst
// and allocate only when dst lacks capacity.
package memcache
