package testutil

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Etcd is a single-member etcd started by StartEtcd.
type Etcd struct {
	*Proc
	Endpoint string // "127.0.0.1:port", the client address
}

// StartEtcd starts a single-member etcd on two free loopback ports (client
// and peer), with its data directory under t.TempDir():
//
//	etcd --name ferry-test --data-dir D --listen-client-urls http://127.0.0.1:C
//	     --advertise-client-urls http://127.0.0.1:C --listen-peer-urls http://127.0.0.1:P
//	     --initial-advertise-peer-urls http://127.0.0.1:P
//	     --initial-cluster ferry-test=http://127.0.0.1:P [args...]
//
// It returns once etcd's /health says it serves (it has a leader), and
// kills it when the test ends. The test is skipped if etcd is not installed
// (Debian package etcd-server), or fails with FERRY_TEST_REQUIRE_BINARIES=1.
func StartEtcd(t testing.TB, args ...string) *Etcd {
	t.Helper()
	RequireBinary(t, "etcd")
	client, peer := FreePort(t), FreePort(t)
	dir := t.TempDir()
	clientURL := "http://" + loopAddr(client)
	peerURL := "http://" + loopAddr(peer)
	a := []string{
		"--name", "ferry-test",
		"--data-dir", dir + "/data",
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "ferry-test=" + peerURL,
		"--logger", "zap",
		"--log-level", "warn",
	}
	e := &Etcd{
		Proc: StartProcessWith(t, ProcOptions{
			Path:     "etcd",
			Args:     append(a, args...),
			Dir:      dir,
			WaitAddr: loopAddr(client),
		}),
		Endpoint: loopAddr(client),
	}
	if err := e.waitHealthy(DefaultStartTimeout); err != nil {
		e.Kill()
		t.Fatalf("testutil: etcd on %s: %v", e.Endpoint, err)
	}
	return e
}

// Restart kills etcd and starts it again on the same ports with the same
// data directory (so with every key and revision it had), and waits until
// it serves.
func (e *Etcd) Restart(t testing.TB) {
	t.Helper()
	e.Proc.Restart(t)
	if err := e.waitHealthy(DefaultStartTimeout); err != nil {
		e.Kill()
		t.Fatalf("testutil: etcd on %s after restart: %v", e.Endpoint, err)
	}
}

// waitHealthy polls GET /health until it reports health true: the port
// accepts before the member has elected itself leader, and requests fail
// until it has.
func (e *Etcd) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	backoff := time.Millisecond
	last := "no answer"
	for time.Now().Before(deadline) {
		if !e.Running() {
			return fmt.Errorf("etcd exited; see log %s", e.LogFile)
		}
		resp, err := c.Get("http://" + e.Endpoint + "/health")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"health":"true"`) {
				return nil
			}
			last = strconv.Itoa(resp.StatusCode) + " " + strings.TrimSpace(string(b))
		} else {
			last = err.Error()
		}
		time.Sleep(min(backoff, time.Until(deadline)))
		backoff = min(backoff*2, 50*time.Millisecond)
	}
	return fmt.Errorf("not healthy after %v: %s", timeout, last)
}
