package worker

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

type item struct{ from, seq int }

// Two loops: what 0 sends 1 arrives in order after 0's Flush, with one
// wake-up of 1 per Flush however much was sent, and none before it.
func TestMailboxSendFlushDrain(t *testing.T) {
	var wakes [2]int
	var m [2]*Mailbox[item]
	for i := range m {
		m[i] = NewMailbox[item](8, 2, func() error { wakes[i]++; return nil })
	}
	var got []int
	collect := func(v *item) { got = append(got, v.seq) }
	for i := range 5 {
		m[0].Send(m[1], 1, &item{seq: i})
	}
	require.True(t, m[0].Sent())
	require.False(t, m[1].Pending(), "nothing is pushed before Flush")
	require.Equal(t, 0, wakes[1])
	m[0].Flush()
	require.False(t, m[0].Sent())
	require.Equal(t, 1, wakes[1], "one wake-up for the batch")
	require.True(t, m[1].Pending())
	m[1].Drain(collect)
	require.Equal(t, []int{0, 1, 2, 3, 4}, got)
	require.False(t, m[1].Pending())

	// A wake-up is pending until the loop drains: a second batch before
	// then wakes nobody again.
	m[0].Send(m[1], 1, &item{seq: 5})
	m[0].Flush()
	m[0].Send(m[1], 1, &item{seq: 6})
	m[0].Flush()
	require.Equal(t, 2, wakes[1])
	m[1].Drain(collect)
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6}, got)
	require.Equal(t, 0, wakes[0])
}

// What a full inbox does not take stays in the outbox, in order, and goes
// with a Flush after Retry once the peer has drained.
func TestMailboxFullInboxKeepsTheRest(t *testing.T) {
	woke := 0
	a := NewMailbox[item](4, 2, func() error { return nil })
	b := NewMailbox[item](4, 2, func() error { woke++; return nil })
	for i := range 10 {
		a.Send(b, 1, &item{seq: i})
	}
	a.Flush()
	var got []int
	b.Drain(func(v *item) { got = append(got, v.seq) })
	require.Equal(t, []int{0, 1, 2, 3}, got)
	require.True(t, a.Sent(), "the rest goes with the next Flush")
	a.Send(b, 1, &item{seq: 10}) // after the rest
	a.Flush()
	b.Drain(func(v *item) { got = append(got, v.seq) })
	a.Flush() // the rest, still marked
	a.Retry()
	a.Flush()
	b.Drain(func(v *item) { got = append(got, v.seq) })
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, got)
	a.Retry()
	require.False(t, a.Sent(), "nothing left to retry")
	require.Equal(t, 3, woke)
}

// A wake function that fails (the loop is shutting down) leaves no wake-up
// pending: the next one tries again.
func TestMailboxWakeFailure(t *testing.T) {
	calls := 0
	m := NewMailbox[item](4, 1, func() error { calls++; return errors.New("shutting down") })
	m.Wake()
	m.Wake()
	require.Equal(t, 2, calls)
	require.False(t, m.Pending())
}

// Producers on their own goroutines (as loops are) send to one consumer,
// which drains whenever it is woken: every value arrives exactly once, in
// each producer's order, and nothing waits without a wake-up pending.
func TestMailboxConcurrentProducers(t *testing.T) {
	const producers, perProducer = 3, 20000
	wake := make(chan struct{}, 1)
	consumer := NewMailbox[item](64, producers+1, func() error {
		select {
		case wake <- struct{}{}:
		default:
		}
		return nil
	})
	var total atomic.Int64
	done := make(chan struct{})
	go func() { // the consumer's loop
		defer close(done)
		next := make([]int, producers)
		for total.Load() < producers*perProducer {
			<-wake
			consumer.Drain(func(v *item) {
				if v.seq != next[v.from] {
					t.Errorf("producer %d: got %d, want %d", v.from, v.seq, next[v.from])
				}
				next[v.from]++
				total.Add(1)
			})
		}
	}()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMailbox[item](4, producers+1, func() error { return nil })
			items := make([]item, perProducer)
			for i := range items {
				items[i] = item{from: p, seq: i}
				m.Send(consumer, producers, &items[i])
				if i%7 == 6 { // an iteration's worth
					m.Flush()
					m.Retry() // what the full inbox did not take
				}
			}
			for m.Retry(); m.Sent(); m.Retry() {
				m.Flush()
			}
		}()
	}
	wg.Wait()
	<-done
	require.EqualValues(t, producers*perProducer, total.Load())
}

// Sending, flushing and draining allocate nothing once the outbox has
// grown.
func TestMailboxDoesNotAllocate(t *testing.T) {
	a := NewMailbox[item](64, 2, func() error { return nil })
	b := NewMailbox[item](64, 2, func() error { return nil })
	v := &item{}
	n := 0
	count := func(*item) { n++ }
	round := func() {
		for range 16 {
			a.Send(b, 1, v)
		}
		a.Flush()
		b.Drain(count)
	}
	round()
	require.Zero(t, testing.AllocsPerRun(100, round))
	require.Equal(t, 16*102, n)
}
