package engine

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGatherKeepsBytesAndOrder(t *testing.T) {
	big := bytes.Repeat([]byte("B"), smallWrite+1)
	in := [][]byte{[]byte("a"), []byte("bc"), big, []byte("d"), {}, []byte("ef"), big, big, []byte("g")}
	var want []byte
	for _, b := range in {
		want = append(want, b...)
	}
	var scratch []byte
	out := gather(append([][]byte(nil), in...), &scratch)
	require.Len(t, out, 6) // "abc", big, "def", big, big, "g"
	require.Equal(t, want, bytes.Join(out, nil))

	// steady state: no allocation once scratch has grown
	iov := make([][]byte, 0, 16)
	piece := []byte("$-1\r\n")
	allocs := testing.AllocsPerRun(100, func() {
		iov = iov[:0]
		for i := 0; i < 16; i++ {
			iov = append(iov, piece)
		}
		out = gather(iov, &scratch)
	})
	require.Zero(t, allocs)
	require.Len(t, out, 1)
	require.Equal(t, bytes.Repeat([]byte("$-1\r\n"), 16), out[0])
}
