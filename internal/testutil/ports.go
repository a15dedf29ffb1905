package testutil

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ports are drawn at random from a range the kernel never hands out as an
// ephemeral (auto-bound) port, so an outgoing connection cannot steal a port
// between FreePort returning it and the server binding it. Ports handed out
// once are never handed out again by this process, and an flock(2) on a file
// per port in os.TempDir() keeps concurrently running test binaries
// (go test ./... runs packages in parallel) from picking the same one.
var ports struct {
	once   sync.Once
	lo, hi int // candidate range [lo, hi); binding :0 is the last resort
	// outsideEphemeral: [lo, hi) lies outside ip_local_port_range, so no
	// outgoing connection or :0 listener can take a port FreePort returned.
	outsideEphemeral bool

	mu     sync.Mutex
	handed map[int]bool
}

const portLockDirName = "ferry-testutil-ports"

func initPortRange() {
	ports.handed = make(map[int]bool)
	ephLo, ephHi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && l <= h {
				ephLo, ephHi = l, h
			}
		}
	}
	// Below the ephemeral range (starting above the usual well-known
	// service ports), or above it, whichever is larger. Where the
	// ephemeral range covers (nearly) everything, draw from all ports above
	// base anyway: a random pick among ~50k ports collides with the kernel's
	// own choices far less often than re-using a port the kernel just
	// handed out for :0, which it is likely to hand out again soon.
	const base = 15000
	belowLo, belowHi := base, ephLo
	aboveLo, aboveHi := ephHi+1, 65536
	if belowHi-belowLo >= aboveHi-aboveLo {
		ports.lo, ports.hi = belowLo, belowHi
	} else {
		ports.lo, ports.hi = aboveLo, aboveHi
	}
	ports.outsideEphemeral = true
	if ports.hi-ports.lo < 1000 {
		ports.lo, ports.hi = base, 65536
		ports.outsideEphemeral = false
	}
}

// FreePort returns a loopback TCP port that is free right now and that no
// other FreePort call in this process (or, best effort, in another test
// process using this package) has returned. It fails the test if none can be
// found.
func FreePort(t testing.TB) int {
	t.Helper()
	p, release, err := freePort()
	if err != nil {
		t.Fatalf("testutil.FreePort: %v", err)
	}
	if release != nil {
		t.Cleanup(release)
	}
	return p
}

func freePort() (int, func(), error) {
	ports.once.Do(initPortRange)
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.hi > 0 {
		for range 500 {
			p := ports.lo + rand.IntN(ports.hi-ports.lo)
			if ports.handed[p] {
				continue
			}
			release, ok := lockPort(p)
			if !ok {
				continue
			}
			if !canBind(p) {
				release()
				continue
			}
			ports.handed[p] = true
			return p, release, nil
		}
	}
	// Fallback: let the kernel choose.
	for range 100 {
		p, err := probeListen("127.0.0.1:0")
		if err != nil {
			return 0, nil, err
		}
		if !ports.handed[p] {
			ports.handed[p] = true
			return p, nil, nil
		}
	}
	return 0, nil, errors.New("no free port found")
}

// canBind reports whether p can be bound on loopback right now.
func canBind(p int) bool {
	_, err := probeListen(net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	return err == nil
}

// probeListen binds addr, closes it again and returns the port it got. It
// holds syscall.ForkLock for reading meanwhile: a process started by another
// goroutine at that moment would otherwise inherit the listening socket and
// keep the port bound until its exec, just when the caller binds it (seen
// under load).
func probeListen(addr string) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lockPort takes an exclusive, non-blocking flock on a per-port file. It
// reports ok=true (with a no-op release) when locking is not possible at all,
// so that a read-only temp dir only weakens the cross-process guarantee.
func lockPort(p int) (release func(), ok bool) {
	dir := filepath.Join(os.TempDir(), portLockDirName)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return func() {}, true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return func() {}, true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// WaitForPort dials addr until a TCP connection succeeds or timeout passes.
// It polls with a short, growing backoff (1ms .. 50ms); there is no fixed
// sleep.
func WaitForPort(addr string, timeout time.Duration) error {
	return waitForPort(addr, timeout, nil)
}

// waitForPort is WaitForPort that also gives up as soon as exited is closed.
func waitForPort(addr string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	backoff := time.Millisecond
	var lastErr error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s not reachable after %v: %v", addr, timeout, lastErr)
		}
		c, err := net.DialTimeout("tcp", addr, min(left, time.Second))
		if err == nil {
			c.Close()
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return fmt.Errorf("process exited before %s was reachable", addr)
		case <-time.After(min(backoff, time.Until(deadline))):
		}
		backoff = min(backoff*2, 50*time.Millisecond)
	}
}
