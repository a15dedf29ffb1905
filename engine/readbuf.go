package engine

import "github.com/panjf2000/gnet/v2"

// readBuf is a connection's unparsed input: in gnet's inbound buffer while
// it is small, gathered in acc once an incomplete request or reply (or a
// throttled client's backlog) passes gatherAt. Left in gnet's buffer, a large
// partial frame is copied again on every read (Conn.Peek joins the ring
// buffer and the new bytes into a fresh slice), quadratic in its size: a
// 32 MiB MGET reply took 2.5 s, a 60 MB MSET 14 s. In acc each byte is
// copied once.
type readBuf struct {
	// acc[start:] is the unparsed input, from the first byte of the oldest
	// incomplete frame; it is empty while gnet holds the input, and gnet
	// holds none while it is not. Consuming advances start; the bytes are
	// moved to the front only once start passes half of acc (or acc must
	// grow), so each byte is moved O(1) times however many small passes a
	// throttled client's backlog is parsed in (moving the rest on every pass
	// moved 23.8 GB for a 33 MB backlog and stalled the loop).
	acc   []byte
	start int
}

// gatherAt is the size of a partial frame from which it is gathered in acc.
const gatherAt = 64 << 10

// maxKeptIn bounds the gathering buffer a connection keeps once drained.
const maxKeptIn = 1 << 20

// load returns the unparsed input, or ok false while fewer than need bytes
// are stored (need 0: whatever there is). The bytes are valid until consume.
func (g *readBuf) load(c gnet.Conn, need int) (buf []byte, ok bool) {
	if len(g.acc) == 0 {
		if need > 0 && c.InboundBuffered() < need {
			return nil, false
		}
		buf, _ = c.Peek(-1)
		return buf, true
	}
	if b, _ := c.Peek(-1); len(b) > 0 { // a view: gnet's ring buffer is empty
		if g.start > 0 && len(g.acc)+len(b) > cap(g.acc) {
			g.compact() // rather than grow while the front is free
		}
		g.acc = append(g.acc, b...)
		_, _ = c.Discard(len(b))
	}
	if len(g.acc)-g.start < need {
		return nil, false
	}
	return g.acc[g.start:], true
}

// consume drops the first n bytes of buf, as load returned it, and gathers
// the rest in acc when it is a large partial frame.
func (g *readBuf) consume(c gnet.Conn, buf []byte, n int) {
	switch {
	case len(g.acc) > 0:
		g.start += n
		switch {
		case g.start == len(g.acc):
			g.acc, g.start = shrinkGathered(g.acc[:0]), 0
		case g.start >= len(g.acc)-g.start:
			g.compact()
		}
	case len(buf)-n >= gatherAt:
		g.acc = append(g.acc[:0], buf[n:]...)
		_, _ = c.Discard(len(buf))
	case n > 0: // Discard(0) would drop everything
		_, _ = c.Discard(n)
	}
}

// compact moves the unparsed bytes to the front of acc.
func (g *readBuf) compact() {
	rest := copy(g.acc, g.acc[g.start:])
	g.acc, g.start = shrinkGathered(g.acc[:rest]), 0
}

// buffered is how many unparsed bytes the connection holds.
func (g *readBuf) buffered(c gnet.Conn) int { return len(g.acc) - g.start + c.InboundBuffered() }

// reset forgets the input (the connection is closed or replaced).
func (g *readBuf) reset() { g.acc, g.start = nil, 0 }

// shrinkGathered gives back a gathering buffer that grew past maxKeptIn
// once what it still holds is small: after a 60 MB request, a connection
// that keeps ending its reads mid-request must not pin 60 MB.
func shrinkGathered(acc []byte) []byte {
	if cap(acc) <= maxKeptIn || len(acc) > cap(acc)/4 {
		return acc
	}
	if len(acc) == 0 {
		return nil
	}
	return append([]byte(nil), acc...)
}
