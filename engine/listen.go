package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ferry-proxy/ferry/config"
)

// ferry owns its pools' listening sockets; gnet serves only the loops.
//
// gnet (v2.10) cannot add a listener to a running engine, nor close one of
// its listeners alone, and a reload must do both (a pool added, removed, or
// listening elsewhere). So each pool's listener is a net.Listener of ferry's
// with one accepting goroutine, which hands every accepted connection to an
// event loop, round robin, with EventLoop.Enroll; from there the connection
// is a gnet connection like any other, on one loop for life. gnet itself
// listens only on a private abstract unix socket, used once at start to
// learn the loops (a connection to it lands on each loop in turn).
//
// This also lets ferry apply the pool's `backlog`, which gnet did not.

// poolListener is one listening address. The pool it serves is the one
// the current topology has at that address (topology.byListen), looked up
// when the connection opens on its loop: a reload may hand the address to
// another pool.
type poolListener struct {
	key  string // network + address, as listenKey gives it
	ln   net.Listener
	done chan struct{} // closed when its accept loop has returned
}

// acceptCtx is the gnet context of a client connection until OnOpen: the
// address it was accepted on.
type acceptCtx struct{ listen string }

// listenKey identifies a listening address.
func listenKey(pc *config.Pool) string { return pc.ListenNetwork + "://" + pc.Listen }

// listen binds pc's address.
func listen(pc *config.Pool) (*poolListener, error) {
	lc := net.ListenConfig{
		KeepAlive: -1, // as twemproxy: no keepalive on client connections
		Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				if pc.ReusePort {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
				}
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	network := pc.ListenNetwork
	if network == "unix" {
		if c, err := net.DialTimeout("unix", pc.Listen, 100*time.Millisecond); err == nil {
			_ = c.Close() // someone serves it: never unlink a live socket
			return nil, fmt.Errorf("pool %q: listen %s: %w", pc.Name, pc.Listen, syscall.EADDRINUSE)
		}
		_ = os.Remove(pc.Listen) // a stale socket file from a previous run
	}
	ln, err := lc.Listen(context.Background(), network, pc.Listen)
	if err != nil {
		return nil, fmt.Errorf("pool %q: listen %s: %w", pc.Name, pc.Listen, err)
	}
	if network == "unix" && pc.ListenPerm != 0 {
		if err := os.Chmod(pc.Listen, pc.ListenPerm); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("pool %q: listen %s: %w", pc.Name, pc.Listen, err)
		}
	}
	setBacklog(ln, pc.Backlog)
	return &poolListener{key: listenKey(pc), ln: ln, done: make(chan struct{})}, nil
}

// setBacklog applies the pool's backlog: Go listens with the kernel's
// somaxconn, and Linux takes a second listen() as a new backlog (which the
// kernel still caps at somaxconn).
func setBacklog(ln net.Listener, backlog int) {
	sc, ok := ln.(syscall.Conn)
	if !ok || backlog <= 0 {
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = syscall.Listen(int(fd), backlog) })
	}
}

// acceptLoop hands the connections l accepts to the loops until l is closed.
func (s *Server) acceptLoop(l *poolListener) {
	defer close(l.done)
	var pause time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait a little rather than
			// spin, as net/http does.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "listen", l.key, "err", err, "retry_in", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		lp := s.nextLoop()
		ctx := gnet.NewContext(context.Background(), &acceptCtx{listen: l.key})
		if _, err := lp.el.Enroll(ctx, nc); err != nil {
			s.log.Warn("cannot hand a client connection to an event loop", "listen", l.key, "err", err)
			_ = nc.Close()
		}
		// gnet keeps a dup of the descriptor and closes nc itself.
	}
}

// nextLoop picks the loop for the next accepted connection, round robin.
func (s *Server) nextLoop() *loop {
	loops := *s.acceptLoops.Load()
	return loops[int(s.rr.Add(1)%uint64(len(loops)))]
}

// internalSocket makes a private directory for the socket gnet listens on
// to learn its loops (only this process connects to it); remove the
// directory when done.
func internalSocket() (dir, path string, err error) {
	base := os.TempDir()
	if len(base) > 64 { // a unix socket path is at most 107 bytes
		base = "/tmp"
	}
	dir, err = os.MkdirTemp(base, "ferry-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", "", fmt.Errorf("private socket for the event loops: %w", err)
	}
	return dir, filepath.Join(dir, "loops.sock"), nil
}

// discoverLoops connects to gnet's private socket until every loop has seen
// a connection (gnet hands them out round robin, so usually one each), then
// starts accepting on the pools' listeners.
func (s *Server) discoverLoops() {
	// Connect until every loop is known. Past the deadline (a loop that
	// never opens its connection) go on with the loops known, if any:
	// accepted connections need at least one.
	deadline := time.Now().Add(10 * time.Second)
	for n := s.loopCount(); n < s.opts.Threads && (n == 0 || time.Now().Before(deadline)); n = s.loopCount() {
		c, err := net.DialTimeout("unix", s.internal, time.Second)
		if err != nil {
			select {
			case <-s.stopped: // gnet stopped: Serve has returned its error
				return
			case <-time.After(10 * time.Millisecond):
			}
			s.log.Error("cannot reach the event loops", "err", err)
			continue
		}
		// Wait until its loop has opened it: then the loop is known.
		buf := make([]byte, 1)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = c.Read(buf) // the loop closes it at once
		_ = c.Close()
	}
	s.mu.Lock()
	s.discovered = true
	loops := slices.Clone(s.loopList)
	s.acceptLoops.Store(&loops)
	for _, l := range s.listeners {
		go s.acceptLoop(l)
	}
	s.mu.Unlock()
	close(s.booted)
}

func (s *Server) loopCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.loopList)
}

// closeListeners stops accepting on every pool listener.
func (s *Server) closeListeners() {
	s.mu.Lock()
	ls := make([]*poolListener, 0, len(s.listeners))
	for _, l := range s.listeners {
		ls = append(ls, l)
	}
	started := s.discovered
	s.mu.Unlock()
	for _, l := range ls {
		_ = l.ln.Close()
		if started {
			<-l.done
		}
	}
}
