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
	big := make([]byte, 40<<10)
	take := func() *ticket {
		tk := lp.getTicket()
		bc.ticketHW.sizeBuffers(tk)
		tk.relay = bc
		return tk
	}
	var burst []*ticket
	for range 64 { // 64 tickets of 80 KiB out at once: past maxFreeBytes
		tk := take()
		tk.req = append(tk.req, big...)
		tk.reply = append(tk.reply, big...)
		tk.n = ticketMaxItems
		burst = append(burst, tk)
	}
	for _, tk := range burst {
		lp.putTicket(tk)
	}
	trickle := func() {
		tk := take()
		tk.req = append(tk.req, "get k\r\n"...)
		tk.items[0] = handItem{end: len(tk.req)}
		tk.n = 1
		tk.reply = append(tk.reply, "END\r\n"...)
		lp.putTicket(tk)
	}
	for range 100 { // the sizes decay
		trickle()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	const n = 1000
	for range n {
		trickle()
	}
	runtime.ReadMemStats(&ms1)
	if b := float64(ms1.TotalAlloc-ms0.TotalAlloc) / n; b > 64 {
		t.Fatalf("%.0f bytes allocated per one-request ticket after the burst (sizes %+v, %d free tickets with buffers, %d without)",
			b, bc.ticketHW, len(lp.ho.freeTickets), len(lp.ho.bareTickets))
	}
	if lp.ho.freeBytes > maxFreeBytes {
		t.Fatalf("free tickets keep %d bytes of buffers", lp.ho.freeBytes)
	}
}
