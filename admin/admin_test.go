package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/worker"
)

type fakeSource struct{ snap engine.Snapshot }

// classes builds a pool's latency histograms from durations per class,
// through the loop shard's own Record and Publish.
func classes(names []string, samples map[string][]time.Duration, slow uint64) []engine.ClassLatency {
	out := make([]engine.ClassLatency, len(names))
	for i, n := range names {
		var l worker.Latency
		for _, d := range samples[n] {
			l.Record(int64(d))
		}
		if i == 0 {
			for range slow {
				l.RecordSlow()
			}
		}
		l.Publish()
		out[i].Class = n
		l.AddTo(&out[i].Histogram)
	}
	return out
}

func (f *fakeSource) Stats() engine.Snapshot { return f.snap }

func testSnapshot() engine.Snapshot {
	return engine.Snapshot{
		Version:          "1.2.3-test",
		Uptime:           90*time.Second + 500*time.Millisecond,
		Timestamp:        time.Unix(1700000000, 0),
		Loops:            4,
		CurrConnections:  3,
		TotalConnections: 42,
		Pools: []engine.PoolSnapshot{
			{
				Name: "alpha", ClientEOF: 10, ClientErr: 1, ClientConnections: 3, TotalConnections: 40,
				ServerEjects: 2, ForwardError: 5, Fragments: 6, Requests: 100,
				Servers: []engine.ServerSnapshot{
					{Name: "s1", Addr: "127.0.0.1:6379", ServerEOF: 1, ServerErr: 2, ServerTimedout: 3,
						ServerConnections: 4, Requests: 70, RequestBytes: 700, Responses: 69,
						ResponseBytes: 690, InQueue: 1},
					{Name: "127.0.0.1:6380", Addr: "127.0.0.1:6380", Ejected: true, ServerEjectedAt: 1700000000123456,
						Failures: 3},
				},
				Listen: "127.0.0.1:22121", Protocol: "redis", SlowlogThreshold: 250 * time.Millisecond, SlowRequests: 1,
				Latency: classes([]string{"read", "write", "multi", "other"},
					map[string][]time.Duration{"read": {100 * time.Microsecond, 2 * time.Millisecond, 2 * time.Second}}, 1),
			},
			{
				Name: "beta", TotalConnections: 2,
				Servers: []engine.ServerSnapshot{
					{Name: `we"ird\name`, Addr: "/tmp/redis.sock"},
				},
				Listen: "127.0.0.1:22122", Protocol: "memcache",
				Latency: classes([]string{"get", "set", "delete", "other"}, nil, 0),
			},
		},
	}
}

// parseMetrics parses an exposition with Prometheus' own text parser, and
// checks the conventions the parser leaves to the writer.
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err, "exposition:\n%s", text)
	for name, f := range fams {
		assert.NotEmpty(t, f.GetHelp(), "HELP of %s", name)
		if f.GetType() == dto.MetricType_COUNTER {
			assert.True(t, strings.HasSuffix(name, "_total"), "counter %s must end in _total", name)
		} else {
			assert.False(t, strings.HasSuffix(name, "_total"), "%v %s must not end in _total", f.GetType(), name)
		}
	}
	return fams
}

// metric returns the sample of family name with exactly these labels.
func metric(fams map[string]*dto.MetricFamily, name string, labels ...string) (*dto.Metric, bool) {
	f, ok := fams[name]
	if !ok {
		return nil, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels)/2 {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

func scrape(t *testing.T, src Source) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	rec := httptest.NewRecorder()
	s := &Server{src: src, log: slog.Default(), registry: newRegistry(src)}
	s.SetConfig(nil)
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4"), rec.Header().Get("Content-Type"))
	text := rec.Body.String()
	return text, parseMetrics(t, text)
}

func TestMetricsExposition(t *testing.T) {
	text, fams := scrape(t, &fakeSource{testSnapshot()})

	const s1 = "127.0.0.1:6379"
	want := []struct {
		name   string
		typ    dto.MetricType
		labels []string
		value  float64
	}{
		{"ferry_build_info", dto.MetricType_GAUGE, []string{"version", "1.2.3-test", "goversion", runtime.Version()}, 1},
		{"ferry_uptime_seconds", dto.MetricType_GAUGE, nil, 90.5},
		{"ferry_event_loops", dto.MetricType_GAUGE, nil, 4},
		{"ferry_client_connections", dto.MetricType_GAUGE, nil, 3},
		{"ferry_client_connections_accepted_total", dto.MetricType_COUNTER, nil, 42},
		{"ferry_pool_client_eof_total", dto.MetricType_COUNTER, []string{"pool", "alpha"}, 10},
		{"ferry_pool_client_err_total", dto.MetricType_COUNTER, []string{"pool", "alpha"}, 1},
		{"ferry_pool_client_connections", dto.MetricType_GAUGE, []string{"pool", "alpha"}, 3},
		{"ferry_pool_client_connections_accepted_total", dto.MetricType_COUNTER, []string{"pool", "beta"}, 2},
		{"ferry_pool_server_ejects_total", dto.MetricType_COUNTER, []string{"pool", "alpha"}, 2},
		{"ferry_pool_forward_error_total", dto.MetricType_COUNTER, []string{"pool", "alpha"}, 5},
		{"ferry_pool_fragments_total", dto.MetricType_COUNTER, []string{"pool", "alpha"}, 6},
		{"ferry_pool_requests_total", dto.MetricType_COUNTER, []string{"pool", "alpha"}, 100},
		{"ferry_pool_slow_requests_total", dto.MetricType_COUNTER, []string{"pool", "alpha"}, 1},
		{"ferry_pool_slowlog_threshold_seconds", dto.MetricType_GAUGE, []string{"pool", "alpha"}, 0.25},
		{"ferry_server_eof_total", dto.MetricType_COUNTER, []string{"pool", "alpha", "server", "s1", "addr", s1}, 1},
		{"ferry_server_err_total", dto.MetricType_COUNTER, []string{"pool", "alpha", "server", "s1", "addr", s1}, 2},
		{"ferry_server_timedout_total", dto.MetricType_COUNTER, []string{"pool", "alpha", "server", "s1", "addr", s1}, 3},
		{"ferry_server_connections", dto.MetricType_GAUGE, []string{"pool", "alpha", "server", "s1", "addr", s1}, 4},
		{"ferry_server_requests_total", dto.MetricType_COUNTER, []string{"pool", "alpha", "server", "s1", "addr", s1}, 70},
		{"ferry_server_request_bytes_total", dto.MetricType_COUNTER, []string{"pool", "alpha", "server", "s1", "addr", s1}, 700},
		{"ferry_server_responses_total", dto.MetricType_COUNTER, []string{"pool", "alpha", "server", "s1", "addr", s1}, 69},
		{"ferry_server_response_bytes_total", dto.MetricType_COUNTER, []string{"pool", "alpha", "server", "s1", "addr", s1}, 690},
		{"ferry_server_in_queue", dto.MetricType_GAUGE, []string{"pool", "alpha", "server", "s1", "addr", s1}, 1},
		{"ferry_server_ejected", dto.MetricType_GAUGE, []string{"pool", "alpha", "server", "s1", "addr", s1}, 0},
		{"ferry_server_ejected", dto.MetricType_GAUGE, []string{"pool", "alpha", "server", "127.0.0.1:6380", "addr", "127.0.0.1:6380"}, 1},
		{"ferry_server_consecutive_failures", dto.MetricType_GAUGE, []string{"pool", "alpha", "server", "127.0.0.1:6380", "addr", "127.0.0.1:6380"}, 3},
		{"ferry_server_requests_total", dto.MetricType_COUNTER, []string{"pool", "beta", "server", `we"ird\name`, "addr", "/tmp/redis.sock"}, 0},
	}
	for _, w := range want {
		f, ok := fams[w.name]
		if !assert.True(t, ok, "no family %s in\n%s", w.name, text) {
			continue
		}
		assert.Equal(t, w.typ, f.GetType(), "TYPE of %s", w.name)
		m, ok := metric(fams, w.name, w.labels...)
		if assert.True(t, ok, "no sample %s%v in\n%s", w.name, w.labels, text) {
			assert.Equal(t, w.value, value(m), "%s%v", w.name, w.labels)
		}
	}
	// Three servers in all: every server family has three samples.
	for name, f := range fams {
		if strings.HasPrefix(name, "ferry_server_") {
			assert.Len(t, f.GetMetric(), 3, name)
		}
	}
	// The runtime and process basics, under the names they had before.
	for _, name := range []string{"go_goroutines", "go_threads", "go_memstats_heap_inuse_bytes", "go_sched_gomaxprocs_threads",
		"process_resident_memory_bytes", "process_open_fds", "go_gc_cycles_total"} {
		m, ok := metric(fams, name)
		if assert.True(t, ok, "no %s", name) && name != "go_gc_cycles_total" {
			assert.Positive(t, value(m), name)
		}
	}

	// Histograms: one per pool and class, with the buckets 50 µs .. 1 s.
	h := fams["ferry_request_duration_seconds"]
	require.NotNil(t, h)
	assert.Equal(t, dto.MetricType_HISTOGRAM, h.GetType())
	assert.Len(t, h.GetMetric(), 8, "2 pools × 4 classes")
	read, ok := metric(fams, "ferry_request_duration_seconds", "pool", "alpha", "class", "read")
	require.True(t, ok)
	hist := read.GetHistogram()
	assert.EqualValues(t, 3, hist.GetSampleCount())
	assert.InDelta(t, 0.0001+0.002+2, hist.GetSampleSum(), 1e-9)
	var les []float64
	cum := map[float64]uint64{}
	for _, b := range hist.GetBucket() {
		les = append(les, b.GetUpperBound())
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	assert.Equal(t, []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, math.Inf(1)}, les)
	assert.EqualValues(t, 0, cum[0.00005])
	assert.EqualValues(t, 1, cum[0.0001], "le is inclusive: 100 µs is in le=0.0001")
	assert.EqualValues(t, 2, cum[0.0025])
	assert.EqualValues(t, 2, cum[1], "the 2 s request is only in +Inf")
	assert.EqualValues(t, 3, cum[math.Inf(1)])
	_, ok = metric(fams, "ferry_request_duration_seconds", "pool", "beta", "class", "delete")
	assert.True(t, ok, "memcache pools have their own class names")

	assert.Contains(t, text, `server="we\"ird\\name"`)
}

// jsonKeys returns an object's keys in document order.
func jsonKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

var (
	topKeys  = []string{"service", "source", "version", "uptime", "timestamp", "total_connections", "curr_connections"}
	poolKeys = []string{"client_eof", "client_err", "client_connections", "server_ejects", "forward_error", "fragments"}
	// ferry's, after twemproxy's
	latencyKeys = func(classes ...string) []string {
		keys := []string{"slow_requests", "latency_p50_us", "latency_p99_us", "latency_p999_us"}
		for _, c := range classes {
			keys = append(keys, "latency_"+c+"_count", "latency_"+c+"_p50_us", "latency_"+c+"_p99_us", "latency_"+c+"_p999_us")
		}
		return keys
	}
	serverKeys = []string{"server_eof", "server_err", "server_timedout", "server_connections", "server_ejected_at",
		"requests", "request_bytes", "responses", "response_bytes", "in_queue", "in_queue_bytes", "out_queue", "out_queue_bytes"}
)

// checkStatsJSON checks the document against testSnapshot: nutcracker
// 0.5.0's keys in its order, and the values.
func checkStatsJSON(t *testing.T, doc []byte) {
	t.Helper()
	require.True(t, json.Valid(doc), "invalid JSON: %s", doc)
	require.True(t, bytes.HasSuffix(doc, []byte("}\n")), "nutcracker ends the document with a newline")
	assert.Equal(t, append(append([]string{}, topKeys...), "alpha", "beta"), jsonKeys(t, doc))

	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc, &top))
	str := func(raw json.RawMessage) (s string) { require.NoError(t, json.Unmarshal(raw, &s)); return }
	num := func(raw json.RawMessage) (n int64) { require.NoError(t, json.Unmarshal(raw, &n)); return }
	assert.Equal(t, "ferry", str(top["service"]))
	assert.Equal(t, "testhost", str(top["source"]))
	assert.Equal(t, "1.2.3-test", str(top["version"]))
	assert.Equal(t, int64(90), num(top["uptime"]))
	assert.Equal(t, int64(1700000000), num(top["timestamp"]))
	assert.Equal(t, int64(42), num(top["total_connections"]))
	assert.Equal(t, int64(3), num(top["curr_connections"]))

	keys := func(parts ...[]string) (out []string) {
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	assert.Equal(t, keys(poolKeys, latencyKeys("read", "write", "multi", "other"), []string{"s1", "127.0.0.1:6380"}),
		jsonKeys(t, top["alpha"]))
	assert.Equal(t, keys(poolKeys, latencyKeys("get", "set", "delete", "other"), []string{`we"ird\name`}),
		jsonKeys(t, top["beta"]))
	var alpha map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(top["alpha"], &alpha))
	for k, v := range map[string]int64{"client_eof": 10, "client_err": 1, "client_connections": 3,
		"server_ejects": 2, "forward_error": 5, "fragments": 6,
		"slow_requests": 1, "latency_read_count": 3, "latency_write_count": 0, "latency_write_p99_us": 0} {
		assert.Equal(t, v, num(alpha[k]), "alpha.%s", k)
	}
	// read: 100 µs, 2 ms, 2 s. The median is in the bucket (1.75 ms, 2 ms].
	assert.InDelta(t, 1875, num(alpha["latency_read_p50_us"]), 125)
	assert.InDelta(t, 1875, num(alpha["latency_p50_us"]), 125, "the pool's, all classes")
	assert.InDelta(t, 1_975_000, num(alpha["latency_read_p999_us"]), 25_000)
	assert.Equal(t, serverKeys, jsonKeys(t, alpha["s1"]))
	var s1 map[string]int64
	require.NoError(t, json.Unmarshal(alpha["s1"], &s1))
	assert.Equal(t, map[string]int64{"server_eof": 1, "server_err": 2, "server_timedout": 3,
		"server_connections": 4, "server_ejected_at": 0, "requests": 70, "request_bytes": 700,
		"responses": 69, "response_bytes": 690, "in_queue": 1, "in_queue_bytes": 0,
		"out_queue": 0, "out_queue_bytes": 0}, s1)
	var s2 map[string]int64
	require.NoError(t, json.Unmarshal(alpha["127.0.0.1:6380"], &s2))
	assert.Equal(t, int64(1700000000123456), s2["server_ejected_at"])
}

func TestStatsJSON(t *testing.T) {
	checkStatsJSON(t, AppendStatsJSON(nil, testSnapshot(), "testhost"))
}

func startTest(t *testing.T, src Source) *Server {
	t.Helper()
	s, err := Start(Options{HTTPAddr: "127.0.0.1:0", StatsAddr: "127.0.0.1:0", Source: src,
		Config: []byte("alpha:\n  listen: 127.0.0.1:1\n"), Hostname: "testhost"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

func TestHTTPEndpoints(t *testing.T) {
	s := startTest(t, &fakeSource{testSnapshot()})
	base := "http://" + s.HTTPAddr().String()

	code, h, body := get(t, base+"/metrics")
	assert.Equal(t, 200, code)
	assert.True(t, strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4"), h.Get("Content-Type"))
	fams := parseMetrics(t, body)
	m, ok := metric(fams, "ferry_server_requests_total", "pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379")
	require.True(t, ok)
	assert.Equal(t, 70.0, value(m))

	code, h, body = get(t, base+"/stats")
	assert.Equal(t, 200, code)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	checkStatsJSON(t, []byte(body))

	code, _, body = get(t, base+"/healthz")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok", body)

	code, h, body = get(t, base+"/config")
	assert.Equal(t, 200, code)
	assert.Equal(t, "text/plain; charset=utf-8", h.Get("Content-Type"))
	assert.Equal(t, "alpha:\n  listen: 127.0.0.1:1\n", body)
	s.SetConfig([]byte("beta: {}\n"))
	_, _, body = get(t, base+"/config")
	assert.Equal(t, "beta: {}\n", body)
	s.SetConfig([]byte("gamma:\n  redis: true\n  redis_auth: hunter2 # prod\n  redis_db: 3\n"))
	_, _, body = get(t, base+"/config")
	assert.Equal(t, "gamma:\n  redis: true\n  redis_auth: \"<redacted>\" # prod\n  redis_db: 3\n", body,
		"secrets are redacted, every line kept")

	code, _, body = get(t, base+"/debug/pprof/")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "goroutine")
	code, _, _ = get(t, base+"/debug/pprof/goroutine?debug=1")
	assert.Equal(t, 200, code)
	code, _, _ = get(t, base+"/debug/pprof/cmdline")
	assert.Equal(t, 200, code)

	code, h, body = get(t, base+"/")
	assert.Equal(t, 200, code)
	assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Contains(t, body, `href="metrics"`)
	assert.NotRegexp(t, `(src|href)="(https?:)?//`, body, "the page loads nothing from elsewhere")

	code, h, body = get(t, base+"/status.json")
	assert.Equal(t, 200, code)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	var st statusDoc
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Len(t, st.Pools, 2)
	assert.Equal(t, "alpha", st.Pools[0].Name)
	assert.Equal(t, "redis", st.Pools[0].Protocol)
	assert.Equal(t, []string{"up", "ejected"}, []string{st.Pools[0].Servers[0].State, st.Pools[0].Servers[1].State})
	assert.Equal(t, "idle", st.Pools[1].Servers[0].State)
	assert.EqualValues(t, 3, st.Pools[0].Latency.Count)
	assert.EqualValues(t, 250, st.Pools[0].SlowlogThresholdMs)
	code, _, _ = get(t, base+"/nope")
	assert.Equal(t, 404, code)

	resp, err := http.Post(base+"/stats", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func readStatsPort(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	doc, err := io.ReadAll(c) // the server closes after the document
	require.NoError(t, err)
	return doc
}

func TestStatsPort(t *testing.T) {
	s := startTest(t, &fakeSource{testSnapshot()})
	for range 3 {
		checkStatsJSON(t, readStatsPort(t, s.StatsAddr().String()))
	}
}

func TestDisabled(t *testing.T) {
	s, err := Start(Options{Source: &fakeSource{}})
	require.NoError(t, err)
	assert.Nil(t, s.HTTPAddr())
	assert.Nil(t, s.StatsAddr())
	require.NoError(t, s.Close(context.Background()))
}

func TestBindFailure(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	_, err = Start(Options{HTTPAddr: busy.Addr().String(), Source: &fakeSource{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "admin HTTP")

	// The stats port fails after the HTTP listener was bound: the HTTP
	// listener must be released.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpAddr := free.Addr().String()
	free.Close()
	_, err = Start(Options{HTTPAddr: httpAddr, StatsAddr: busy.Addr().String(), Source: &fakeSource{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stats port")
	ln, err := net.Listen("tcp", httpAddr)
	require.NoError(t, err, "HTTP listener left open after a failed Start")
	ln.Close()
}

func TestClose(t *testing.T) {
	s, err := Start(Options{HTTPAddr: "127.0.0.1:0", StatsAddr: "127.0.0.1:0", Source: &fakeSource{testSnapshot()}})
	require.NoError(t, err)
	h, st := s.HTTPAddr().String(), s.StatsAddr().String()
	readStatsPort(t, st)
	require.NoError(t, s.Close(context.Background()))
	require.NoError(t, s.Close(context.Background()), "second Close")
	for _, a := range []string{h, st} {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			c.Close()
		}
		assert.Error(t, err, "%s still accepts after Close", a)
	}
}
