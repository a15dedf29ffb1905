package engine

// smallWrite is the size up to which pieces of one write are copied into a
// contiguous buffer rather than given their own iovec: the kernel's writev
// handles few iovecs best, and x/sys/unix.Writev allocates past 8 of them.
const smallWrite = 2048

// gather compacts iov in place: each run of small pieces becomes one slice
// of *scratch (copied), large pieces stay as they are. The result aliases
// iov and *scratch and is valid until the next gather with the same scratch.
func gather(iov [][]byte, scratch *[]byte) [][]byte {
	if len(iov) <= 1 {
		return iov
	}
	total := 0
	for _, b := range iov {
		if len(b) <= smallWrite {
			total += len(b)
		}
	}
	buf := (*scratch)[:0]
	if cap(buf) < total {
		buf = make([]byte, 0, total+total/4) // grows to the working size, then reused
	}
	out := iov[:0]
	runStart, inRun := 0, false
	for _, b := range iov {
		if len(b) > smallWrite {
			out = append(out, b)
			inRun = false
			continue
		}
		if !inRun {
			runStart, inRun = len(buf), true
			buf = append(buf, b...)
			out = append(out, buf[runStart:])
			continue
		}
		buf = append(buf, b...)
		out[len(out)-1] = buf[runStart:]
	}
	*scratch = buf
	return out
}
