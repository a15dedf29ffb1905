package engine

import (
	"context"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
)

// StallLoop makes event loop idx sleep for d in a task of its own: a
// stalled loop, for the hand-off tests. It returns once the task runs.
func (s *Server) StallLoop(idx int, d time.Duration) {
	lp := s.loopAt(idx)
	started := make(chan struct{})
	_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		close(started)
		time.Sleep(d)
		return nil
	}))
	<-started
}

// ConnOwner is the loop that owns the first of a server's connections in
// scope "process".
func ConnOwner(addr string, loops int) int { return firstOwner(addr, loops) }

// ClientLoops maps each client's remote address to its loop's index.
func (s *Server) ClientLoops() map[string]int {
	s.mu.Lock()
	loops := append([]*loop(nil), s.loopList...)
	s.mu.Unlock()
	out := map[string]int{}
	for _, lp := range loops {
		done := make(chan []string)
		_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			var a []string
			for _, cl := range lp.clients {
				a = append(a, cl.gc.RemoteAddr().String())
			}
			done <- a
			return nil
		}))
		for _, a := range <-done {
			out[a] = lp.idx
		}
	}
	return out
}

// TicketFreeList is how many tickets loop idx keeps for reuse, and the
// memory they keep, buffers included (review helper).
func (s *Server) TicketFreeList(idx int) (n, bytes int) {
	lp := s.loopAt(idx)
	done := make(chan struct{})
	_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		n = len(lp.ho.freeTickets) + len(lp.ho.bareTickets)
		for _, t := range append(lp.ho.freeTickets[:len(lp.ho.freeTickets):len(lp.ho.freeTickets)], lp.ho.bareTickets...) {
			bytes += t.bufBytes() + int(unsafe.Sizeof(*t))
		}
		close(done)
		return nil
	}))
	<-done
	return n, bytes
}
