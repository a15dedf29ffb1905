package engine

import (
	"runtime"
	"testing"
)

// After a burst of large tickets has filled the free tickets' budget, the
// one-request tickets of steady state allocate nothing: the tickets kept
// without buffers (past the budget) are taken last, and a relay's ticket
// sizes follow what its recent tickets used, not the largest ever. (From a
// review: each later ticket was given the burst's 100 KiB of buffers and
// dropped them on its return, every time.)
func TestTicketsAfterABurstDoNotAllocate(t *testing.T) {
	lp := &loop{}
	lp.initHandoff(2)
	bc := &backendConn{}
	big := make([]byte, 32<<10)
	take := func() *ticket {
		tk := lp.getTicket()
		bc.ticketHW.sizeBuffers(tk)
		tk.relay = bc
		return tk
	}
	var burst []*ticket
	for range 64 { // 64 tickets of 64 KiB out at once: twice maxFreeBytes
		tk := take()
		tk.req = append(tk.req, big...)
		tk.reply = append(tk.reply, big...)
		tk.n = ticketMaxItems
		burst = append(burst, tk)
	}
	for _, tk := range burst {
		lp.putTicket(tk)
	}
	// Then 40 one-request tickets at a time out, more than the tickets
	// that kept the burst's buffers: the buffers far larger than what the
	// relay needs lately go, so the budget does not stay full of them.
	const inFlight = 40
	out := make([]*ticket, inFlight)
	trickle := func() {
		for i := range out {
			tk := take()
			tk.req = append(tk.req, "get k\r\n"...)
			tk.items[0] = handItem{end: len(tk.req)}
			tk.n = 1
			tk.reply = append(tk.reply, "END\r\n"...)
			out[i] = tk
		}
		for _, tk := range out {
			lp.putTicket(tk)
		}
	}
	for range 100 { // the sizes decay
		trickle()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	const rounds = 200
	for range rounds {
		trickle()
	}
	runtime.ReadMemStats(&ms1)
	if a := float64(ms1.Mallocs-ms0.Mallocs) / (rounds * inFlight); a > 0.01 {
		t.Fatalf("%.3f allocations per one-request ticket after the burst (sizes %+v, %d free tickets with buffers (%d bytes), %d without)",
			a, bc.ticketHW, len(lp.ho.freeTickets), lp.ho.freeBytes, len(lp.ho.bareTickets))
	}
	if lp.ho.freeBytes > maxFreeBytes {
		t.Fatalf("free tickets keep %d bytes of buffers", lp.ho.freeBytes)
	}
}
