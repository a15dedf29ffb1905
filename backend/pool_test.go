package backend

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// testPool is a memcache pool over addrs (probes send "version").
func testPool(t *testing.T, limit int, retry time.Duration, addrs ...string) *Pool {
	t.Helper()
	cfg := &config.Pool{Name: "p", Hash: "fnv1a_64", Distribution: "ketama", AutoEjectHosts: limit > 0,
		ServerFailureLimit: limit, ServerRetryTimeout: retry, Timeout: time.Second}
	for i, a := range addrs {
		cfg.Servers = append(cfg.Servers, config.Server{Addr: a, Network: "tcp", Weight: 1, Ident: fmt.Sprint("s", i)})
	}
	p, err := NewPool(cfg, 1)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// Loops that see the same failure at once eject the server once, and the
// ejection is counted once.
func TestConcurrentFailuresEjectOnce(t *testing.T) {
	refused := closedAddr(t)
	for round := 0; round < 300; round++ {
		p := testPool(t, 1, time.Minute, refused, "127.0.0.1:2")
		var wg sync.WaitGroup
		var downs sync.Map
		start := make(chan struct{})
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if p.Servers[0].ReportFailure(errors.New("boom")) {
					downs.Store(g, true)
				}
				p.countFailure(p.Servers[0]) // what the prober does per failed probe
			}()
		}
		close(start)
		wg.Wait()
		n := 0
		downs.Range(func(any, any) bool { n++; return true })
		require.Equal(t, 1, n, "round %d: one report marks the server down", round)
		require.Eventually(t, func() bool { return p.Servers[0].Ejected(0) }, time.Second, time.Millisecond)
		require.EqualValues(t, 1, p.Servers[0].Ejects.Load(), "round %d", round)
		require.Equal(t, 1, p.LiveCount())
		p.Close()
	}
}

// The failure limit counts an outage once, however many connections saw
// it, then one per failed probe (ProbeInterval apart).
func TestFailuresCountedPerServer(t *testing.T) {
	p := testPool(t, 3, time.Minute, closedAddr(t), "127.0.0.1:2")
	s := p.Servers[0]
	start := time.Now()
	for g := 0; g < 8; g++ {
		p.Servers[0].ReportFailure(errors.New("boom"))
	}
	require.True(t, s.Down())
	require.LessOrEqual(t, s.Failures(), 2, "8 connections failing count as one outage (plus at most the first probe)")
	require.False(t, s.Ejected(0))
	require.Eventually(t, func() bool { return s.Ejected(0) }, 2*time.Second, 5*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), ProbeInterval, "the third failure is the second probe")
	require.EqualValues(t, 1, s.Ejects.Load())
	require.GreaterOrEqual(t, s.ProbeErrors.Load(), uint64(2))
	require.Equal(t, "Connection refused", s.Cause().Text)
}

// A probe that gets an answer marks the server up; a server ejected comes
// back once server_retry_timeout has passed and a probe succeeds.
func TestProbeMarksUpAndReadmits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if l, err := bufio.NewReader(c).ReadString('\n'); err == nil && l == "version\r\n" {
					_, _ = c.Write([]byte("VERSION 1.6\r\n"))
				}
			}()
		}
	}()
	p := testPool(t, 1, 300*time.Millisecond, ln.Addr().String(), "127.0.0.1:2")
	s := p.Servers[0]
	t0 := time.Now()
	p.Servers[0].ReportFailure(errors.New("boom"))
	require.Eventually(t, func() bool { return !s.Down() }, 2*time.Second, time.Millisecond)
	require.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond, "ejected servers wait out server_retry_timeout")
	require.False(t, s.Ejected(0))
	require.Equal(t, 2, p.LiveCount())
	require.EqualValues(t, 1, s.Ejects.Load())

	// without ejection the first probe is at once
	p2 := testPool(t, 0, time.Minute, ln.Addr().String())
	t0 = time.Now()
	p2.Servers[0].ReportFailure(errors.New("boom"))
	require.Eventually(t, func() bool { return !p2.Servers[0].Down() }, time.Second, time.Millisecond)
	require.Less(t, time.Since(t0), ProbeInterval)
}

func TestErrorText(t *testing.T) {
	op := func(err error) error {
		return fmt.Errorf("connect: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)})
	}
	require.Equal(t, "Connection refused", ErrorText(op(syscall.ECONNREFUSED)))
	require.Equal(t, "Connection reset by peer", ErrorText(op(syscall.ECONNRESET)))
	require.Equal(t, "Connection timed out", ErrorText(op(syscall.ETIMEDOUT)))
	require.Equal(t, "Connection timed out", ErrorText(fmt.Errorf("probe: %w", os.ErrDeadlineExceeded)))
	_, err := (&net.Dialer{Timeout: time.Nanosecond}).Dial("tcp", "127.0.0.1:1")
	require.Equal(t, "Connection timed out", ErrorText(err))
	require.Equal(t, "connection closed by server", ErrorText(errors.New("connection closed by server")))
	require.Equal(t, "No such file or directory", Strerror(syscall.ENOENT))
}

// The probe against real servers: Redis with and without AUTH, memcached
// over text and binary.
func TestProbeRealServers(t *testing.T) {
	probe := func(cfg *config.Pool, addr string) error {
		cfg.Name, cfg.Hash, cfg.Distribution, cfg.Timeout = "p", "fnv1a_64", "ketama", time.Second
		cfg.Servers = []config.Server{{Addr: addr, Network: "tcp", Weight: 1, Ident: "s0"}}
		p, err := NewPool(cfg, 1)
		require.NoError(t, err)
		defer p.Close()
		return p.probe(p.Servers[0])
	}
	r := testutil.StartRedis(t)
	require.NoError(t, probe(&config.Pool{Redis: true, Protocol: config.ProtocolRedis}, r.Addr))
	ra := testutil.StartRedis(t, "--requirepass", "s3cret")
	require.NoError(t, probe(&config.Pool{Redis: true, Protocol: config.ProtocolRedis, RedisAuth: "s3cret"}, ra.Addr))
	err := probe(&config.Pool{Redis: true, Protocol: config.ProtocolRedis, RedisAuth: "wrong"}, ra.Addr)
	require.ErrorContains(t, err, "backend rejected -WRONGPASS")
	require.ErrorContains(t, probe(&config.Pool{Redis: true, Protocol: config.ProtocolRedis}, ra.Addr), "backend rejected -NOAUTH")
	m := testutil.StartMemcached(t)
	require.NoError(t, probe(&config.Pool{Protocol: config.ProtocolMemcache}, m.Addr))
	require.NoError(t, probe(&config.Pool{Protocol: config.ProtocolMemcacheBinary}, m.Addr))
	err = probe(&config.Pool{Protocol: config.ProtocolMemcache}, closedAddr(t))
	require.Equal(t, "Connection refused", ErrorText(err))
}
