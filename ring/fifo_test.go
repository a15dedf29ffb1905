package ring

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFIFOOrderAcrossGrowthAndWrap(t *testing.T) {
	var q FIFO[int]
	next, want := 0, 0
	// Interleave pushes and pops so the head wraps around while the buffer grows.
	for round := 0; round < 50; round++ {
		for i := 0; i < round%7+3; i++ {
			q.Push(next)
			next++
		}
		for i := 0; i < round%5+1 && q.Len() > 0; i++ {
			require.Equal(t, want, q.At(0))
			v, ok := q.Pop()
			require.True(t, ok)
			require.Equal(t, want, v)
			want++
		}
	}
	require.Equal(t, next-want, q.Len())
	for i := 0; i < q.Len(); i++ {
		require.Equal(t, want+i, q.At(i))
	}
	for q.Len() > 0 {
		v, _ := q.Pop()
		require.Equal(t, want, v)
		want++
	}
	_, ok := q.Pop()
	require.False(t, ok)
	_, ok = q.Peek()
	require.False(t, ok)
}

func TestFIFOResetKeepsStorageAndNoAllocs(t *testing.T) {
	var q FIFO[*int]
	x := 1
	for i := 0; i < 100; i++ {
		q.Push(&x)
	}
	q.Reset()
	require.Equal(t, 0, q.Len())
	allocs := testing.AllocsPerRun(100, func() {
		for i := 0; i < 64; i++ {
			q.Push(&x)
		}
		for i := 0; i < 64; i++ {
			q.Pop()
		}
	})
	require.Zero(t, allocs)
}

func TestFIFOAtOutOfRangePanics(t *testing.T) {
	var q FIFO[int]
	q.Push(1)
	require.Panics(t, func() { q.At(1) })
}
