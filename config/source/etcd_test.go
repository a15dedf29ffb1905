package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

const testKey = "/ferry/config"

// yamlFor is a valid one-pool configuration whose servers are n redis
// servers on made-up ports (nothing is dialled).
func yamlFor(n int) string {
	var b strings.Builder
	b.WriteString("alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n")
	for i := range n {
		fmt.Fprintf(&b, "   - 127.0.0.1:%d:1\n", 16379+i)
	}
	return b.String()
}

// put writes the key with a client of the test's own.
func put(t *testing.T, endpoint, value string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, testKey, value)
	require.NoError(t, err)
}

// syncBuf is a log destination tests read while the source writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type delivery struct {
	cfg *config.Config
	raw string
	err error
}

// watcher runs src.Watch until the test ends and collects what it delivers.
type watcher struct {
	ch   chan delivery
	logs *syncBuf
}

func testOptions() Options {
	return Options{
		RequestTimeout: 500 * time.Millisecond,
		ProbeInterval:  200 * time.Millisecond,
		MaxBackoff:     300 * time.Millisecond,
		LogEvery:       time.Hour,
	}
}

func newSource(t *testing.T, endpoints ...string) (*Etcd, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	src, err := NewEtcd(endpoints, testKey, testOptions())
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	return src, logs
}

func startWatch(t *testing.T, src Source, logs *syncBuf) *watcher {
	t.Helper()
	w := &watcher{ch: make(chan delivery, 16), logs: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Watch(ctx, slog.New(slog.NewTextHandler(logs, nil)), func(cfg *config.Config, raw []byte, err error) { w.ch <- delivery{cfg, string(raw), err} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *watcher) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-w.ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatalf("no change delivered within 10s; log:\n%s", w.logs.String())
		return delivery{}
	}
}

// none checks that nothing is delivered for a few probe rounds.
func (w *watcher) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-w.ch:
		t.Fatalf("unexpected delivery: %+v", d)
	case <-time.After(time.Second):
	}
}

func nservers(t *testing.T, d delivery) int {
	t.Helper()
	require.NoError(t, d.err)
	require.NotNil(t, d.cfg)
	return len(d.cfg.Pool("alpha").Servers)
}

func TestParseEtcd(t *testing.T) {
	eps, key, err := ParseEtcd("etcd://10.0.0.1:2379,[::1]:2379,etcd.local:2379/ferry/config")
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.1:2379", "[::1]:2379", "etcd.local:2379"}, eps)
	require.Equal(t, "/ferry/config", key)
	for _, bad := range []string{"etcd://h:1", "etcd://h:1/", "etcd:///k", "etcd://h/k", "etcd://h:x/k", "etcd://h:1,/k"} {
		_, _, err := ParseEtcd(bad)
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), bad)
	}
	_, err = Open("zk://h:1/k", Options{})
	require.ErrorContains(t, err, "unknown scheme")
	s, err := Open("conf/x.yml", Options{})
	require.NoError(t, err)
	require.Equal(t, File("conf/x.yml"), s)
}

func TestEtcdLoadWatchInvalid(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	src, logs := newSource(t, etcd.Endpoint)

	_, _, err := src.Load(context.Background())
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, "etcd:/ferry/config")

	put(t, etcd.Endpoint, yamlFor(2))
	cfg, raw, err := src.Load(context.Background())
	require.NoError(t, err)
	require.Equal(t, yamlFor(2), string(raw))
	require.Equal(t, "etcd:/ferry/config", cfg.File)
	require.Len(t, cfg.Pool("alpha").Servers, 2)

	w := startWatch(t, src, logs)
	w.none(t) // what Load returned is not delivered again

	put(t, etcd.Endpoint, yamlFor(3))
	d := w.next(t)
	require.Equal(t, 3, nservers(t, d))
	require.Equal(t, yamlFor(3), d.raw)

	// An invalid value is reported, with the key and line, and delivers
	// no configuration.
	put(t, etcd.Endpoint, "alpha:\n  listen: 127.0.0.1:22121\n  hash: sha1\n  servers:\n   - 127.0.0.1:1:1\n")
	d = w.next(t)
	require.Nil(t, d.cfg)
	var errs config.Errors
	require.ErrorAs(t, d.err, &errs)
	require.Contains(t, d.err.Error(), `etcd:/ferry/config:3: pool "alpha": key "hash": unknown hash "sha1"`)

	// The same text again is no change; the next valid one is.
	put(t, etcd.Endpoint, yamlFor(3))
	require.Equal(t, 3, nservers(t, w.next(t)))
	put(t, etcd.Endpoint, yamlFor(3))
	w.none(t)

	// A deleted key is reported; putting it back delivers it.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + etcd.Endpoint}, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.Delete(context.Background(), testKey)
	require.NoError(t, err)
	d = w.next(t)
	require.ErrorIs(t, d.err, ErrNotFound)
	require.Nil(t, d.cfg)
	put(t, etcd.Endpoint, yamlFor(4))
	require.Equal(t, 4, nservers(t, w.next(t)))
}

// etcd goes away and comes back (same data): the outage is logged once,
// the recovery too, and a change made right after the restart is
// delivered.
func TestEtcdRestartMidWatch(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	put(t, etcd.Endpoint, yamlFor(2))
	src, logs := newSource(t, etcd.Endpoint)
	_, _, err := src.Load(context.Background())
	require.NoError(t, err)
	w := startWatch(t, src, logs)
	put(t, etcd.Endpoint, yamlFor(3))
	require.Equal(t, 3, nservers(t, w.next(t)))

	etcd.Kill()
	// Generous: on a loaded machine (the whole test suite at once) the
	// client once took over 10 s to report the dead endpoint.
	waitFor(t, "the outage to be logged", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "config source unreachable")
	})
	// Several failed retries, one line.
	waitFor(t, "retries", 30*time.Second, func() bool { return src.failedReads.Load() >= 3 })
	etcd.Restart(t)
	put(t, etcd.Endpoint, yamlFor(5))
	require.Equal(t, 5, nservers(t, w.next(t)))
	waitFor(t, "the recovery to be logged", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "config source reachable again")
	})
	require.Equal(t, 1, strings.Count(logs.String(), "config source unreachable"), logs.String())

	// And the watch works as before.
	put(t, etcd.Endpoint, yamlFor(6))
	require.Equal(t, 6, nservers(t, w.next(t)))
	w.none(t)
}

// A Watch that never had a Load (ferry started from its -c file while etcd
// was down) delivers the key once etcd can be read.
func TestEtcdDownAtStartThenUp(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	put(t, etcd.Endpoint, yamlFor(2))
	etcd.Kill()

	src, logs := newSource(t, etcd.Endpoint)
	start := time.Now()
	_, _, err := src.Load(context.Background())
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "etcd:/ferry/config")
	require.ErrorContains(t, err, etcd.Endpoint)
	require.Less(t, time.Since(start), 5*time.Second)

	w := startWatch(t, src, logs)
	waitFor(t, "a failed read", 30*time.Second, func() bool { return src.failedReads.Load() >= 1 })
	etcd.Restart(t)
	require.Equal(t, 2, nservers(t, w.next(t)))
	// The failed Load was the caller's to report; Watch logs the rest.
	waitFor(t, "the recovery to be logged", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "config source reachable again")
	})
	require.NotContains(t, logs.String(), "config source unreachable")
	put(t, etcd.Endpoint, yamlFor(3))
	require.Equal(t, 3, nservers(t, w.next(t)))
}

// Several endpoints, the first dead: Load and Watch use the live one.
func TestEtcdEndpointsOneDead(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	dead := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	put(t, etcd.Endpoint, yamlFor(2))
	src, logs := newSource(t, dead, etcd.Endpoint)
	for range 5 { // round robin would hit the dead one
		cfg, _, err := src.Load(context.Background())
		require.NoError(t, err)
		require.Len(t, cfg.Pool("alpha").Servers, 2)
	}
	w := startWatch(t, src, logs)
	put(t, etcd.Endpoint, yamlFor(3))
	require.Equal(t, 3, nservers(t, w.next(t)))
	require.NotContains(t, logs.String(), "unreachable")
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	f := File(dir + "/ferry.yml")
	_, _, err := f.Load(context.Background())
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, writeFile(string(f), yamlFor(2)))
	cfg, raw, err := f.Load(context.Background())
	require.NoError(t, err)
	require.Equal(t, yamlFor(2), string(raw))
	require.Equal(t, string(f), cfg.File)
	require.NoError(t, writeFile(string(f), "alpha: [1]\n"))
	_, _, err = f.Load(context.Background())
	var errs config.Errors
	require.True(t, errors.As(err, &errs), "%v", err)
}

// The source loses etcd (a proxy between them cut) while the key changes
// several times and etcd compacts past every revision the source knew:
// once etcd answers again the latest value is delivered, once.
func TestEtcdChangedWhileUnreachable(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	put(t, etcd.Endpoint, yamlFor(2))
	px := newTCPProxy(t, etcd.Endpoint)
	src, logs := newSource(t, px.addr)
	_, _, err := src.Load(context.Background())
	require.NoError(t, err)
	w := startWatch(t, src, logs)

	px.cut()
	waitFor(t, "the outage to be logged", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "config source unreachable")
	})
	put(t, etcd.Endpoint, yamlFor(3))
	put(t, etcd.Endpoint, yamlFor(4))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + etcd.Endpoint}, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	resp, err := cli.Put(context.Background(), testKey, yamlFor(5))
	require.NoError(t, err)
	_, err = cli.Compact(context.Background(), resp.Header.Revision)
	require.NoError(t, err)

	px.restore(t)
	require.Equal(t, 5, nservers(t, w.next(t)))
	w.none(t)
	require.Contains(t, logs.String(), "config source reachable again")
	put(t, etcd.Endpoint, yamlFor(6))
	require.Equal(t, 6, nservers(t, w.next(t)))
}

// Refresh makes a running Watch read at once; Load while Watch runs makes
// the state it returned known, so Watch does not deliver it again.
func TestEtcdRefreshAndLoadDuringWatch(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	put(t, etcd.Endpoint, yamlFor(2))
	logs := &syncBuf{}
	o := testOptions()
	o.ProbeInterval = time.Hour // only watch events and Refresh read
	src, err := NewEtcd([]string{etcd.Endpoint}, testKey, o)
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	_, _, err = src.Load(context.Background())
	require.NoError(t, err)
	w := startWatch(t, src, logs)

	put(t, etcd.Endpoint, yamlFor(3))
	require.Equal(t, 3, nservers(t, w.next(t)))
	reads := src.reads.Load()
	src.Refresh()
	waitFor(t, "a read", 5*time.Second, func() bool { return src.reads.Load() > reads })
	w.none(t) // nothing changed: nothing delivered

	put(t, etcd.Endpoint, yamlFor(4))
	require.Equal(t, 4, nservers(t, w.next(t)))
	cfg, _, err := src.Load(context.Background())
	require.NoError(t, err)
	require.Len(t, cfg.Pool("alpha").Servers, 4)
	src.Refresh()
	w.none(t)

	// Older states never come back: observe ignores them.
	require.False(t, src.observe(true, []byte(yamlFor(2)), 2, 0))
	require.False(t, src.observe(true, []byte(yamlFor(2)), 2, 100))
	// ... unless the store's history restarted behind what was seen.
	require.True(t, src.observe(true, []byte(yamlFor(2)), 2, 3))
}
