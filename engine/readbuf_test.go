package engine

import (
	"bytes"
	"testing"
	"time"
)

// A throttled client's backlog is parsed a few requests per pass. Each pass
// must cost what it parses, not the size of the backlog: moving the rest to
// the front on every pass moved 23.8 GB for a 33 MB backlog (about 0.1 s per
// GB here: 2.9 s for 8 MiB in these steps, four times that for the 16 MiB below).
func TestReadBufConsumeIsLinear(t *testing.T) {
	const size, step = 16 << 20, 512
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i / step)
	}
	var g readBuf
	g.acc = append([]byte(nil), want...)
	began := time.Now()
	for off := 0; off < size; off += step {
		buf := g.acc[g.start:]
		if !bytes.Equal(buf[:step], want[off:off+step]) {
			t.Fatalf("at %d: the unparsed input is not what was left", off)
		}
		g.consume(nil, buf, step)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("consuming a 16 MiB backlog in %d-byte steps took %v", step, took)
	}
	if len(g.acc) != 0 || g.start != 0 {
		t.Fatalf("drained buffer not reset: len %d start %d", len(g.acc), g.start)
	}
}
