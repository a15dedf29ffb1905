package worker

import (
	"sync/atomic"

	"github.com/ferry-proxy/ferry/ring"
)

// Mailbox is one event loop's end of the hand-off between loops: an inbox
// that the other loops push onto (a lock-free ring: any goroutine may push,
// only the loop pops), and an outbox per peer, where what this loop sends
// waits for the end of its iteration. Flush then pushes each outbox onto its
// peer's inbox and wakes the peer once: one wake-up per peer and iteration,
// whatever was sent, never one per item.
//
// The mailbox carries pointers and does not look at what they point to: a
// value belongs to one loop at a time, and the ring's push and pop order
// the hand-over (a release/acquire pair), so its fields need no atomics.
//
// All methods but Wake are the owning loop's.
type Mailbox[T any] struct {
	inbox *ring.MPSC[*T]
	woken atomic.Bool // a wake-up is pending: the loop drains soon
	wake  func() error

	peers   []*Mailbox[T] // by loop index: where Send sent to
	outbox  [][]*T        // by peer index: sent, not pushed yet
	marked  []bool        // by peer index: in toFlush
	toFlush []int
}

// NewMailbox returns a mailbox whose inbox holds capacity values, for a
// process of loops loops. wake makes the loop run Drain soon; any goroutine
// may call it, and it fails once the loop is shutting down.
func NewMailbox[T any](capacity, loops int, wake func() error) *Mailbox[T] {
	return &Mailbox[T]{
		inbox:  ring.NewMPSC[*T](capacity),
		wake:   wake,
		peers:  make([]*Mailbox[T], loops),
		outbox: make([][]*T, loops),
		marked: make([]bool, loops),
	}
}

// Send puts v in the outbox for peer, the mailbox of loop idx; it leaves
// with the next Flush.
func (m *Mailbox[T]) Send(peer *Mailbox[T], idx int, v *T) {
	m.peers[idx] = peer
	m.outbox[idx] = append(m.outbox[idx], v)
	m.mark(idx)
}

func (m *Mailbox[T]) mark(idx int) {
	if !m.marked[idx] {
		m.marked[idx] = true
		m.toFlush = append(m.toFlush, idx)
	}
}

// Sent reports whether a Flush has outboxes to push.
func (m *Mailbox[T]) Sent() bool { return len(m.toFlush) > 0 }

// Flush pushes the outboxes filled since the last Flush onto their peers'
// inboxes and wakes each peer once. What a full inbox does not take stays
// in the outbox, first in line, for the next Flush (Sent stays true), or
// for Retry when the loop has nothing else to do.
func (m *Mailbox[T]) Flush() {
	kept := 0
	for _, idx := range m.toFlush {
		m.marked[idx] = false
		q, peer := m.outbox[idx], m.peers[idx]
		if peer == nil || len(q) == 0 {
			continue
		}
		n := 0
		for n < len(q) && peer.inbox.Push(q[n]) {
			n++
		}
		rest := copy(q, q[n:])
		clear(q[rest:])
		m.outbox[idx] = q[:rest]
		if n > 0 {
			peer.Wake()
		}
		if rest > 0 { // marked again, in place: the list is walked once
			m.marked[idx] = true
			m.toFlush[kept] = idx
			kept++
		}
	}
	clear(m.toFlush[kept:])
	m.toFlush = m.toFlush[:kept]
}

// Retry marks the peers whose outboxes still hold values (their inboxes were
// full) for the next Flush; the loop calls it on every tick.
func (m *Mailbox[T]) Retry() {
	for idx, q := range m.outbox {
		if len(q) > 0 {
			m.mark(idx)
		}
	}
}

// Wake has the loop drain its inbox soon, unless a wake-up is pending
// already. Any goroutine may call it.
func (m *Mailbox[T]) Wake() {
	if m.woken.CompareAndSwap(false, true) {
		if err := m.wake(); err != nil {
			m.woken.Store(false) // shutting down
		}
	}
}

// Pending reports whether the inbox has values or a wake-up is pending: the
// loop should Drain.
func (m *Mailbox[T]) Pending() bool { return m.woken.Load() || m.inbox.Len() > 0 }

// Drain hands each value in the inbox to fn, at most the inbox's capacity
// of them; if more came meanwhile, it wakes the loop again for the rest.
func (m *Mailbox[T]) Drain(fn func(*T)) {
	// Cleared before draining: a value pushed after this wakes the loop
	// again, one pushed before it is popped below.
	m.woken.Store(false)
	for range m.inbox.Cap() {
		v, ok := m.inbox.Pop()
		if !ok {
			return
		}
		fn(v)
	}
	if m.inbox.Len() > 0 {
		m.Wake()
	}
}
