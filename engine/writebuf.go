package engine

import "github.com/panjf2000/gnet/v2"

// writeBuf is one connection's output waiting for the loop's next write.
// Pieces are copied in while the batch stays within smallWrite: the write
// may wait for the end of the loop iteration, past the callback whose
// buffers they point into, so that the pieces of many requests leave in one
// write. A piece that would take the batch past smallWrite goes out at once,
// behind the batch and without a copy, so the peer starts on a large batch
// while this iteration reads more, and the buffer never grows past
// smallWrite.
type writeBuf struct {
	buf []byte
	iov [][]byte // scratch for the immediate writev
}

// add queues b, or writes it at once behind what is queued. It reports
// whether b was queued. A write error closes gc (gnet's OnClose runs before
// add returns).
func (w *writeBuf) add(gc gnet.Conn, b []byte) (queued bool) {
	if len(w.buf)+len(b) <= smallWrite {
		w.buf = append(w.buf, b...)
		return true
	}
	w.iov = append(w.iov[:0], w.buf, b)
	w.buf = w.buf[:0]
	_, _ = gc.Writev(w.iov)
	w.iov[0], w.iov[1] = nil, nil
	return false
}

// flush writes what is queued in one write, if anything; it reports whether
// it wrote.
func (w *writeBuf) flush(gc gnet.Conn) bool {
	if len(w.buf) == 0 {
		return false
	}
	_, _ = gc.Write(w.buf) // an error closes gc; OnClose has run
	w.buf = w.buf[:0]
	return true
}

// len is the number of bytes queued.
func (w *writeBuf) len() int { return len(w.buf) }

// reset drops what is queued.
func (w *writeBuf) reset() { w.buf = w.buf[:0] }

// smallWrite is the size up to which request and reply bytes are copied
// into a connection's write buffer; larger pieces are written at once from
// where they lie, behind what is queued. A copy of up to 64 KiB costs less
// than the extra write (and wake-up of the peer) it saves: with 4 KiB, a
// 16 KiB SET at -P1 cost 1.29x nutcracker's CPU, with 64 KiB 0.82x.
const smallWrite = 64 << 10
