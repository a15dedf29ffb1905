package engine

import (
	"context"
	"time"

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
func ConnOwner(addr string, loops int) int {
	_, owner := connShare(addr, 1, loops, 0)
	if own, _ := connShare(addr, 1, loops, owner); own == 1 {
		return owner
	}
	return 0
}
