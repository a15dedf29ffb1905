package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/admin"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// live is ferry serving a redis pool (two servers, the second of which the
// test kills) and a memcache pool, with its admin server.
type live struct {
	srv       *engine.Server
	adm       *admin.Server
	base      string // admin URL
	redisAddr string // the redis pool's listen address
	mcAddr    string
	up, gone  *testutil.Proc // the redis servers; gone is killed by killServer
	mc        *testutil.Proc
	logs      *syncBuffer
	stopOnce  sync.Once
}

// stop stops the proxy (once; the test's cleanup calls it too).
func (l *live) stop(t *testing.T) {
	l.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, l.srv.Stop(ctx))
	})
}

// secret is the pools' redis_auth: no endpoint, page or log line may show it.
const secret = "s3cret-e2e-pass"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (l *live) redisClient(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: l.redisAddr, Protocol: 2, DisableIndentity: true, MaxRetries: -1,
		Password: secret})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, url)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func startLive(t *testing.T) *live {
	t.Helper()
	up, gone := testutil.StartRedis(t, "--requirepass", secret), testutil.StartRedis(t, "--requirepass", secret)
	mc := testutil.StartMemcached(t)
	l := &live{up: up, gone: gone, mc: mc,
		redisAddr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		mcAddr:    fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	yml := fmt.Sprintf(`cache:
  listen: %s
  redis: true
  redis_auth: %s
  timeout: 2000
  slowlog_threshold_ms: 1000
  servers:
    - %s:1 cache-a
    - %s:1 cache-b
sessions:
  listen: %s
  protocol: memcache
  servers:
    - %s:1 mc-a
`, l.redisAddr, secret, up.Addr, gone.Addr, l.mcAddr, mc.Addr)
	cfg, err := config.Parse("live.yml", []byte(yml))
	require.NoError(t, err)
	l.logs = &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l.srv, err = engine.New(cfg, engine.Options{Threads: 2, Version: "e2e", Logger: logger})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- l.srv.Serve() }()
	select {
	case <-l.srv.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	require.NoError(t, l.srv.Err())
	t.Cleanup(func() { l.stop(t) })
	l.adm, err = admin.Start(admin.Options{HTTPAddr: "127.0.0.1:0", Source: l.srv, Config: []byte(yml),
		Hostname: "e2e-host", Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.adm.Close(context.Background()) })
	l.base = "http://" + l.adm.HTTPAddr().String()
	require.NoError(t, testutil.WaitForPort(l.redisAddr, 5*time.Second))
	require.NoError(t, testutil.WaitForPort(l.mcAddr, 5*time.Second))
	return l
}

// traffic sends a known number of requests of each class through ferry.
type traffic struct{ gets, sets, mgets, mcGets, mcSets, mcDeletes int }

func (l *live) drive(t *testing.T) traffic {
	t.Helper()
	ctx := context.Background()
	rc := l.redisClient(t)
	tr := traffic{sets: 20, gets: 30, mgets: 5, mcSets: 12, mcGets: 9, mcDeletes: 3}
	for i := 0; i < tr.sets; i++ {
		require.NoError(t, rc.Set(ctx, fmt.Sprint("key", i), i, 0).Err())
	}
	for i := 0; i < tr.gets; i++ {
		require.NoError(t, rc.Get(ctx, fmt.Sprint("key", i%tr.sets)).Err())
	}
	for i := 0; i < tr.mgets; i++ {
		require.NoError(t, rc.MGet(ctx, "key1", "key2", "key3", "key4").Err())
	}
	mc := memcache.New(l.mcAddr)
	mc.Timeout = 5 * time.Second
	for i := 0; i < tr.mcSets; i++ {
		require.NoError(t, mc.Set(&memcache.Item{Key: fmt.Sprint("m", i), Value: []byte("v")}))
	}
	for i := 0; i < tr.mcGets; i++ {
		_, err := mc.Get(fmt.Sprint("m", i))
		require.NoError(t, err)
	}
	for i := 0; i < tr.mcDeletes; i++ {
		require.NoError(t, mc.Delete(fmt.Sprint("m", i)))
	}
	return tr
}

// killServer kills cache-b and sends GETs until ferry has seen it fail.
func (l *live) killServer(t *testing.T) {
	t.Helper()
	l.gone.Kill()
	rc := l.redisClient(t)
	require.Eventually(t, func() bool {
		for i := 0; i < 20; i++ {
			// Keys that differ in their first byte: twemproxy's fnv1a_64
			// puts keys that differ only in their last byte on one server.
			_ = rc.Get(context.Background(), fmt.Sprint(i, "-probe")).Err() // some live on cache-b
		}
		for _, s := range l.srv.Stats().Pools[0].Servers {
			if s.Addr == l.gone.Addr {
				return s.Down
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "ferry never saw cache-b fail")
}

func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "the exposition parses")
	return fams
}

func histogramCount(fams map[string]*dto.MetricFamily, pool, class string) (uint64, bool) {
	for _, m := range fams["ferry_request_duration_seconds"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["pool"] == pool && labels["class"] == class {
			return m.GetHistogram().GetSampleCount(), true
		}
	}
	return 0, false
}

func TestMetricsCountRealRequests(t *testing.T) {
	l := startLive(t)
	tr := l.drive(t)
	want := map[[2]string]uint64{
		{"cache", "write"}: uint64(tr.sets), {"cache", "read"}: uint64(tr.gets), {"cache", "multi"}: uint64(tr.mgets),
		{"sessions", "set"}: uint64(tr.mcSets), {"sessions", "get"}: uint64(tr.mcGets), {"sessions", "delete"}: uint64(tr.mcDeletes),
	}
	// The loops publish their histograms on their tick: poll the scrape.
	var fams map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		fams = scrapeMetrics(t, l.base)
		for k, n := range want {
			if got, ok := histogramCount(fams, k[0], k[1]); !ok || got < n {
				return false
			}
		}
		return true
	}, 5*time.Second, 20*time.Millisecond, "histogram counts never reached %v", want)

	f := fams["ferry_request_duration_seconds"]
	require.Equal(t, dto.MetricType_HISTOGRAM, f.GetType())
	assert.Len(t, f.GetMetric(), 8, "2 pools × 4 classes")
	for k, n := range want {
		got, _ := histogramCount(fams, k[0], k[1])
		assert.Equal(t, n, got, "%s/%s", k[0], k[1])
	}
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		b := h.GetBucket()
		require.Len(t, b, 15, "50 µs .. 1 s and +Inf")
		assert.Equal(t, 0.00005, b[0].GetUpperBound())
		assert.Equal(t, 1.0, b[13].GetUpperBound())
		for i := 1; i < len(b); i++ {
			assert.GreaterOrEqual(t, b[i].GetCumulativeCount(), b[i-1].GetCumulativeCount(), "cumulative")
		}
		if h.GetSampleCount() > 0 && labelValue(m, "class") != "other" {
			// (other holds the HELLO go-redis sends on connect, answered
			// by ferry in the callback that parsed it: 0 on its clock)
			assert.Positive(t, h.GetSampleSum(), "requests through real servers take time")
		}
	}
	// The counters the histograms sit beside agree with them.
	var requests float64
	for _, m := range fams["ferry_pool_requests_total"].GetMetric() {
		if labelValue(m, "pool") == "cache" {
			requests = m.GetCounter().GetValue()
		}
	}
	assert.GreaterOrEqual(t, requests, float64(tr.sets+tr.gets+tr.mgets))

	// /stats carries the percentiles next to twemproxy's fields.
	stats := httpGet(t, l.base+"/stats")
	assert.Contains(t, stats, fmt.Sprintf(`"latency_read_count":%d`, tr.gets))
	assert.Regexp(t, `"latency_read_p99_us":[1-9][0-9]*`, stats)
}

// TestSecretsRedacted: redis_auth is in use (the servers require it), and
// shows nowhere: not in /config (which keeps its lines), /stats,
// /status.json, /metrics, the page, nor any log line at debug level.
func TestSecretsRedacted(t *testing.T) {
	l := startLive(t)
	l.drive(t)
	l.killServer(t)
	conf := httpGet(t, l.base+"/config")
	assert.Contains(t, conf, "  redis_auth: \"<redacted>\"\n")
	assert.Contains(t, conf, "slowlog_threshold_ms: 1000", "the rest is served as written")
	for _, path := range []string{"/config", "/stats", "/status.json", "/metrics", "/"} {
		assert.NotContains(t, httpGet(t, l.base+path), secret, path)
	}
	l.stop(t) // its closing lines too
	assert.NotContains(t, l.logs.String(), secret)
}

// artifactDir is where tests leave files for people to look at:
// $FERRY_TEST_ARTIFACTS, else tmp/test-artifacts in the repository (ignored
// by git).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FERRY_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "tmp", "test-artifacts")
	}
	dir, err := filepath.Abs(dir)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func TestStatusPageInChromium(t *testing.T) {
	chrome := testutil.RequireBinary(t, "chromium")
	l := startLive(t)
	l.drive(t)
	l.killServer(t)

	// Steady traffic (about 200 GETs a second, to a key on the live server)
	// while the page polls, so that it shows a rate.
	rc := l.redisClient(t)
	steady := ""
	for i := 0; steady == ""; i++ {
		require.Less(t, i, 100, "no key found on the live server")
		// (fnv1a_64 as twemproxy has it puts keys that differ only in
		// their last byte on one server: vary the first)
		if k := fmt.Sprint(i, "-steady"); rc.Get(context.Background(), k).Err() == redis.Nil {
			steady = k
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = rc.Get(context.Background(), steady).Err()
			}
		}
	}()
	stopTraffic := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopTraffic()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()))
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer allocCancel()
	var logs bytes.Buffer
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }))
	defer cancel()
	ctx, timeout := context.WithTimeout(ctx, 60*time.Second)
	defer timeout()

	// Wait for the page's own polling to show the dead server as down and
	// a request rate (so it refreshed at least twice), rather than for a
	// fixed time.
	downSel := fmt.Sprintf(`tr[data-server=%q]`, l.gone.Addr)
	ready := fmt.Sprintf(`(function(){
		var m = document.getElementById("pools"), r = document.querySelector(%q);
		var rate = document.querySelector('section[data-pool="cache"] .fig .v');
		return Number(m.dataset.updates) >= 2 && r !== null && r.dataset.state === "down" &&
			rate !== null && parseFloat(rate.textContent) > 0;
	})()`, downSel)
	var pools, servers, states []string
	var downText, summary, title string
	var shot []byte
	err := chromedp.Run(ctx,
		chromedp.Navigate(l.base+"/"),
		chromedp.Poll(ready, nil, chromedp.WithPollingInterval(100*time.Millisecond)),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("section.pool h2")).map(e => e.textContent)`, &pools),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("tr[data-server]")).map(e => e.dataset.server)`, &servers),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("tr[data-server]")).map(e => e.dataset.state)`, &states),
		// Evaluate reads a node's text in one step: the page rebuilds its
		// tables on every poll, so a node id that chromedp.Text looked up
		// can be gone by the time it asks for the text ("No node with
		// given id found").
		chromedp.Evaluate(textOf(downSel+` .state`), &downText),
		chromedp.Evaluate(textOf(`#summary`), &summary),
		chromedp.Title(&title),
		chromedp.FullScreenshot(&shot, 100), // 100: PNG
	)
	require.NoError(t, err, "chromium: %s", logs.String())

	path := filepath.Join(artifactDir(t), "status-page.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("status page screenshot: %s", path)

	assert.Equal(t, "ferry status", title)
	assert.Equal(t, []string{"cache", "sessions"}, pools)
	assert.Equal(t, []string{l.up.Addr, l.gone.Addr, l.mc.Addr}, servers, "every server, in the pool's order")
	assert.Equal(t, []string{"up", "down", "up"}, states)
	assert.Equal(t, "DOWN", strings.ToUpper(strings.TrimSpace(downText)))
	assert.Contains(t, summary, "1 down")
	assert.Contains(t, summary, "2 up")

	// Figures shown against the proxy's own numbers: once the traffic has
	// stopped, the page's count of reads comes to ferry's.
	stopTraffic()
	readCount := func() string {
		for _, c := range l.srv.Stats().Pools[0].Latency {
			if c.Class == "read" {
				return fmt.Sprint(c.Count())
			}
		}
		return ""
	}
	var shown, want, readP99 string
	deadline := time.Now().Add(10 * time.Second)
	for {
		want = readCount()
		require.NoError(t, chromedp.Run(ctx,
			chromedp.Evaluate(textOf(`section[data-pool="cache"] tr[data-class="read"] td:nth-child(2)`), &shown),
			chromedp.Evaluate(textOf(`section[data-pool="cache"] tr[data-class="read"] td:nth-child(5)`), &readP99)))
		if shown == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the page polls every second; look again
	}
	assert.Equal(t, want, shown, "the page's count of reads is ferry's")
	assert.Regexp(t, `^[0-9.]+ (µs|ms|s)$`, readP99, "p99 of reads through a real server is shown as a duration")
	png := []byte("\x89PNG")
	assert.True(t, bytes.HasPrefix(shot, png), "a PNG screenshot")
}

// textOf is a script giving the text of the first node matching the CSS
// selector sel, or "" when there is none, read in one evaluation.
func textOf(sel string) string {
	return fmt.Sprintf(`(function(){ var e = document.querySelector(%q); return e === null ? "" : e.textContent; })()`, sel)
}
