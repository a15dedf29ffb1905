package ring

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMPSCCapacityRounding(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-5, 2}, {0, 2}, {1, 2}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {8, 8}, {9, 16}, {1000, 1024}, {1024, 1024}, {1025, 2048},
	} {
		q := NewMPSC[int](tc.in)
		require.Equal(t, tc.want, q.Cap(), "NewMPSC(%d)", tc.in)
		// The whole capacity is usable, and no more.
		for i := 0; i < tc.want; i++ {
			require.True(t, q.Push(i), "NewMPSC(%d) push %d", tc.in, i)
		}
		require.False(t, q.Push(-1), "NewMPSC(%d) past capacity", tc.in)
		require.Equal(t, tc.want, q.Len())
	}
	require.Panics(t, func() { NewMPSC[int](maxMPSC + 1) })
}

func TestMPSCSingleGoroutine(t *testing.T) {
	q := NewMPSC[int](4)
	require.Equal(t, 4, q.Cap())
	_, ok := q.Pop()
	require.False(t, ok, "new queue is empty")
	require.Equal(t, 0, q.Len())

	for i := 0; i < 4; i++ {
		require.True(t, q.Push(i))
		require.Equal(t, i+1, q.Len())
	}
	require.False(t, q.Push(4), "full")
	for i := 0; i < 4; i++ {
		v, ok := q.Pop()
		require.True(t, ok)
		require.Equal(t, i, v)
	}
	_, ok = q.Pop()
	require.False(t, ok, "empty again")
	require.Equal(t, 0, q.Len())

	// Wrap around many laps with uneven batches, against a counter.
	next, want := 0, 0
	for round := 0; round < 200; round++ {
		for i := 0; i < round%5+1; i++ {
			if q.Push(next) {
				next++
			} else {
				require.Equal(t, q.Cap(), next-want, "Push false only when full")
			}
		}
		for i := 0; i < round%3+1; i++ {
			v, ok := q.Pop()
			if !ok {
				require.Equal(t, want, next, "Pop false only when empty")
				break
			}
			require.Equal(t, want, v)
			want++
		}
		require.Equal(t, next-want, q.Len())
	}
	require.Greater(t, next, 10*q.Cap(), "the test wrapped many times")
}

func TestMPSCFullThenPopThenPush(t *testing.T) {
	q := NewMPSC[string](2)
	require.True(t, q.Push("a"))
	require.True(t, q.Push("b"))
	require.False(t, q.Push("c"))
	require.False(t, q.Push("c"), "still full, nothing changed")
	v, ok := q.Pop()
	require.True(t, ok)
	require.Equal(t, "a", v)
	require.True(t, q.Push("c"), "a Pop frees one cell")
	require.False(t, q.Push("d"))
	for _, w := range []string{"b", "c"} {
		v, ok := q.Pop()
		require.True(t, ok)
		require.Equal(t, w, v)
	}
}

func TestMPSCPopClearsCell(t *testing.T) {
	q := NewMPSC[*int](4)
	for i := 0; i < 10; i++ { // past a lap, so every cell was used
		x := i
		require.True(t, q.Push(&x))
		v, ok := q.Pop()
		require.True(t, ok)
		require.Equal(t, i, *v)
	}
	for i := range q.cells {
		require.Nil(t, q.cells[i].val, "cell %d still references a popped value", i)
	}
}

// A producer that has claimed the head cell but not yet published it holds
// back the consumer (and the values behind it) until it does.
func TestMPSCClaimedButUnwritten(t *testing.T) {
	q := NewMPSC[int](4)
	require.True(t, q.Push(1))
	_, _ = q.Pop()
	// Act as a producer stopped between its CAS on tail and its Store of seq.
	pos := q.tail.Load()
	require.True(t, q.tail.CompareAndSwap(pos, pos+1))
	require.True(t, q.Push(2), "later producers go on")
	require.Equal(t, 2, q.Len(), "Len counts the claimed cell")
	_, ok := q.Pop()
	require.False(t, ok, "the head cell is claimed, not written")
	c := &q.cells[pos&q.mask]
	c.val = 1
	c.seq.Store(pos + 1)
	for _, w := range []int{1, 2} {
		v, ok := q.Pop()
		require.True(t, ok)
		require.Equal(t, w, v)
	}
}

func TestMPSCNoAllocs(t *testing.T) {
	qp := NewMPSC[*int](8)
	x := 1
	type msg struct {
		id  uint64
		buf []byte
		p   *int
	}
	qs := NewMPSC[msg](8)
	m := msg{id: 7, buf: make([]byte, 16), p: &x}
	allocs := testing.AllocsPerRun(1000, func() {
		for i := 0; i < 8; i++ {
			qp.Push(&x)
			qs.Push(m)
		}
		qp.Push(&x) // full: the failing path must not allocate either
		for i := 0; i < 8; i++ {
			qp.Pop()
			qs.Pop()
		}
		qp.Pop() // empty
	})
	require.Zero(t, allocs)
}

func TestMPSCManyProducers(t *testing.T) {
	const producers = 4
	const perProducer = 100_000 // about 0.2 s, 1.5 s under -race on 2 cores
	type item struct{ id, seq int }
	q := NewMPSC[item](64) // small, so producers hit full often and laps wrap
	var wg sync.WaitGroup
	var fulls [producers]int
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := 0; s < perProducer; s++ {
				for !q.Push(item{p, s}) {
					fulls[p]++
					runtime.Gosched()
				}
			}
		}()
	}

	next := make([]int, producers) // next sequence expected from each producer
	var idle int                   // empty Pops in a row
	var idleSince time.Time
	for got := 0; got < producers*perProducer; {
		v, ok := q.Pop()
		if !ok {
			// A lost value would otherwise hang the test until go test's timeout.
			if idle++; idle == 1 {
				idleSince = time.Now()
			} else if idle%1024 == 0 && time.Since(idleSince) > 10*time.Second {
				require.Failf(t, "no progress", "got %d of %d values in 10 s; next per producer %v, Len %d", got, producers*perProducer, next, q.Len())
			}
			runtime.Gosched()
			continue
		}
		idle = 0
		got++
		require.True(t, v.id >= 0 && v.id < producers, "bad producer id %d", v.id)
		if v.seq != next[v.id] {
			require.Failf(t, "out of order", "producer %d: got seq %d, want %d", v.id, v.seq, next[v.id])
		}
		next[v.id]++
		if n := q.Len(); n < 0 || n > q.Cap() {
			require.Failf(t, "Len out of range", "Len %d, Cap %d", n, q.Cap())
		}
	}
	wg.Wait()
	for p := 0; p < producers; p++ {
		require.Equal(t, perProducer, next[p], "producer %d", p)
	}
	_, ok := q.Pop()
	require.False(t, ok, "nothing left over")
	require.Equal(t, 0, q.Len())
	t.Logf("%d producers x %d values; Push found it full %v times", producers, perProducer, fulls)
}

func BenchmarkMPSC(b *testing.B) {
	// Push then Pop on one goroutine: the uncontended cost of the two.
	b.Run("same-goroutine", func(b *testing.B) {
		q := NewMPSC[*int](1024)
		x := 1
		b.ReportAllocs()
		for b.Loop() {
			q.Push(&x)
			q.Pop()
		}
	})
	// b.N values split among producers, one consumer popping: ns/op is per
	// value handed over. Both sides yield when full or empty, as a loop would.
	for _, producers := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			q := NewMPSC[*int](1024)
			x := 1
			b.ReportAllocs()
			var wg sync.WaitGroup
			b.ResetTimer()
			for p := 0; p < producers; p++ {
				n := b.N / producers
				if p < b.N%producers {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < n; i++ {
						for !q.Push(&x) {
							runtime.Gosched()
						}
					}
				}()
			}
			for got := 0; got < b.N; {
				if _, ok := q.Pop(); ok {
					got++
				} else {
					runtime.Gosched()
				}
			}
			wg.Wait()
		})
	}
}
