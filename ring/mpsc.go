package ring

import (
	"math/bits"
	"sync/atomic"
)

// cacheLine is the padding unit that keeps the consumer's and the producers'
// hot words apart. 128 rather than 64: Intel's spatial prefetcher pulls lines
// in adjacent pairs, and arm64 parts with 128-byte lines exist.
const cacheLine = 128

// maxMPSC bounds the capacity so that rounding up cannot overflow an int.
const maxMPSC = 1 << 40

// MPSC is a bounded, lock-free queue of T with many producers and one
// consumer: gnet event loops push requests and replies to the loop that owns
// them, and only that loop pops. It is fixed-size so that a stuck owner costs
// bounded memory (Push fails instead of growing), and Push/Pop do not allocate.
//
// Each cell carries a sequence number that says whose turn it is. For the
// cell at position p (index p & mask, lap p / cap):
//
//	seq == p        free: the producer that claims position p may write it
//	seq == p+1      written: the consumer may read it
//	seq == p+cap    read and cleared: free for position p+cap, the next lap
//
// Producers claim a position by CAS on tail; the consumer alone advances head
// and needs no CAS. A value crosses between goroutines only through the cell's
// seq: Go's atomics are sequentially consistent, so a plain write made before
// a seq.Store is visible to whoever Loads that stored value (the Go memory
// model's "synchronized before"), which is what makes the plain cell value
// race-free in both directions.
type MPSC[T any] struct {
	cells []mpscCell[T] // read-only after NewMPSC: shared by all, never written
	mask  uint64
	_     [cacheLine]byte
	head  atomic.Uint64 // next position to pop; written by the consumer only
	_     [cacheLine - 8]byte
	tail  atomic.Uint64 // next position to claim; CAS by producers
	_     [cacheLine - 8]byte
}

// mpscCell is not padded: neighbours share a line, but padding every cell
// would cost 128 bytes a slot for a contention the head/tail split already
// avoids in the common case (producers and the consumer a lap apart).
type mpscCell[T any] struct {
	seq atomic.Uint64
	val T
}

// NewMPSC returns a queue holding up to capacity values (rounded up to a power
// of two, at least 2). The power of two makes the index a mask; 2 because with
// one cell "written at p" (p+1) and "free for p+cap" (p+1) would be the same
// sequence number. It panics on a capacity above 2^40, which no caller means.
func NewMPSC[T any](capacity int) *MPSC[T] {
	if capacity > maxMPSC {
		panic("BUG: ring: MPSC capacity too large")
	}
	n := 2
	if capacity > 2 {
		n = 1 << bits.Len(uint(capacity-1))
	}
	q := &MPSC[T]{cells: make([]mpscCell[T], n), mask: uint64(n - 1)}
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i)) // free for lap 0
	}
	return q
}

// Push adds v; false when the queue is full (the caller fails the request:
// bounded memory). Safe from any goroutine.
func (q *MPSC[T]) Push(v T) bool {
	pos := q.tail.Load()
	for {
		c := &q.cells[pos&q.mask]
		// This Load pairs with the consumer's seq.Store after it cleared the
		// cell: seeing seq == pos means that clearing happened before our
		// write below, so the two never overlap.
		seq := c.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			// Free for pos. The CAS makes this producer the only one to own
			// it; a failed CAS means another took pos, so retry at the new tail.
			if q.tail.CompareAndSwap(pos, pos+1) {
				c.val = v
				// Publish: the write of val above happens before this Store,
				// so the consumer that Loads pos+1 reads a complete value.
				c.seq.Store(pos + 1)
				return true
			}
			pos = q.tail.Load()
		case d < 0:
			// The cell still holds the value from a lap ago (seq == pos-cap+1,
			// or pos-cap while its own producer writes it): full. A stale pos
			// cannot get here, since seq only grows and is >= any position
			// the cell has already been claimed for.
			return false
		default:
			// Another producer claimed pos (and maybe laps after it) since
			// we read tail: catch up.
			pos = q.tail.Load()
		}
	}
}

// Pop removes the oldest value; ok false when empty (or when the next value's
// producer has claimed its cell but not finished writing it yet: the consumer
// sees it on its next Pop). Only the single consumer may call it.
func (q *MPSC[T]) Pop() (v T, ok bool) {
	head := q.head.Load() // only we write head, so this is just our own copy
	c := &q.cells[head&q.mask]
	// Pairs with the producer's publishing Store: seeing head+1 means its
	// write of val happened before our read. seq == head means claimed but
	// not yet written (or nothing pushed): report empty rather than spin,
	// the event loop will come back.
	if c.seq.Load() != head+1 {
		return v, false
	}
	v = c.val
	var zero T
	c.val = zero // drop the reference for the GC
	// Hand the cell to the producer of the next lap; our read and clear
	// happen before its write (it Loads this value before writing).
	c.seq.Store(head + q.mask + 1)
	q.head.Store(head + 1) // atomic only so Len may read it from anywhere
	return v, true
}

// Len is an approximate count (racy by nature), for stats and tests. It counts
// claimed cells, including ones whose producer is still writing.
func (q *MPSC[T]) Len() int {
	// head first: tail only grows, so tail read after head is >= it.
	head := q.head.Load()
	tail := q.tail.Load()
	n := tail - head
	if n > q.mask+1 { // the consumer popped, and producers refilled, between the two Loads
		n = q.mask + 1
	}
	return int(n)
}

// Cap returns the capacity.
func (q *MPSC[T]) Cap() int { return len(q.cells) }
