package backend

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A server that was down once in the last 10 s and is then ejected: the
// ejection (keys move to other servers for server_retry_timeout) is not
// logged at all.
func TestEjectionAfterRecentOutageIsLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var answer sync.Mutex // held: the server does not answer probes
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if l, err := bufio.NewReader(c).ReadString('\n'); err == nil && l == "version\r\n" {
					answer.Lock()
					answer.Unlock()
					_, _ = c.Write([]byte("VERSION 1.6\r\n"))
				}
			}()
		}
	}()
	p := testPool(t, 2, time.Minute, ln.Addr().String(), "127.0.0.1:2")
	var buf syncBuf
	p.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	s := p.Servers[0]
	// Outage 1: a reset; the probe passes at once.
	s.ReportFailure(errors.New("boom"))
	require.Eventually(t, func() bool { return !s.Down() }, time.Second, time.Millisecond)
	// Outage 2, a few seconds later in real life: probes fail (no
	// answer within timeout 1s) and the server is ejected.
	p.Cfg.Timeout = 100 * time.Millisecond
	answer.Lock()
	s.ReportFailure(errors.New("boom again"))
	require.Eventually(t, func() bool { return s.Ejected(0) }, 3*time.Second, time.Millisecond)
	answer.Unlock()
	t.Logf("log:\n%s", buf.String())
	require.True(t, strings.Contains(buf.String(), "ejected"), "ejection not logged")
}
