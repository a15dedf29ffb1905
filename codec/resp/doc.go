// Package resp parses and encodes the Redis protocol (RESP2 and the RESP3
// types a server may send) on byte slices. It does no I/O.
//
// Directions:
//
//	client -> proxy   Parser.Parse     multibulk and inline requests, resumable
//	proxy  -> server  the request's raw bytes, forwarded as they came
//	server -> proxy   ReplyScanner     finds where each reply ends, resumable
//	proxy  -> client  Append*          encoders for replies the proxy makes itself
//
// Ownership: nothing in this package copies its input. Every []byte it hands
// out (Request.Args, elements from ArrayIter) is a view into the slice the
// caller passed in, valid only while that slice is neither modified nor
// reused, and (for Request.Args) until the next Parse or Reset on the same
// Parser. A caller that keeps a view past the current gnet OnTraffic callback
// must copy it.
//
// Resumable parsers save only offsets, never views, so the caller may move
// the unconsumed bytes to another buffer between calls as long as the bytes
// themselves (the same prefix, plus more) are passed again.
//
// Errors are sentinel values from errors.go. Client-facing protocol errors
// are *ProtocolError values that carry a preallocated RESP reply; nothing is
// formatted per request.
package resp
