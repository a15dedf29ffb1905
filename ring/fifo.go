// Package ring holds the bounded queues that hand requests and replies
// between their owners. FIFO is single-owner: it is used from one event loop
// only and has no locks. MPSC is fixed-size and lock-free, for handing values
// from many event loops to the one that owns them.
package ring

// FIFO is a growable ring buffer of T used by a single goroutine (an event
// loop). It grows by doubling up to no fixed limit; callers bound it (a
// client's in-flight cap, a backend's queue) and check Len before Push.
// Its storage is reused, so steady-state Push/Pop do not allocate.
type FIFO[T any] struct {
	buf  []T
	head int // index of the oldest element
	n    int // number of elements
}

// Len returns the number of queued elements.
func (q *FIFO[T]) Len() int { return q.n }

// Push appends v at the tail.
func (q *FIFO[T]) Push(v T) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = v
	q.n++
}

// Peek returns the oldest element; ok is false when the queue is empty.
func (q *FIFO[T]) Peek() (v T, ok bool) {
	if q.n == 0 {
		return v, false
	}
	return q.buf[q.head], true
}

// Pop removes and returns the oldest element.
func (q *FIFO[T]) Pop() (v T, ok bool) {
	if q.n == 0 {
		return v, false
	}
	var zero T
	v = q.buf[q.head]
	q.buf[q.head] = zero // drop the reference for the GC
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return v, true
}

// At returns the i-th oldest element (0 is the head). It panics when i is out
// of range, as a slice index would.
func (q *FIFO[T]) At(i int) T {
	if i < 0 || i >= q.n {
		panic("BUG: ring: index out of range")
	}
	return q.buf[(q.head+i)&(len(q.buf)-1)]
}

// Reset empties the queue, keeping its storage.
func (q *FIFO[T]) Reset() {
	var zero T
	for i := 0; i < q.n; i++ {
		q.buf[(q.head+i)&(len(q.buf)-1)] = zero
	}
	q.head, q.n = 0, 0
}

func (q *FIFO[T]) grow() {
	size := len(q.buf) * 2
	if size == 0 {
		size = 8
	}
	nb := make([]T, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = nb, 0
}
