package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
)

type fakeSource struct{ snap engine.Snapshot }

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
					{Name: "127.0.0.1:6380", Addr: "127.0.0.1:6380", Ejected: true, ServerEjectedAt: 1700000000123456},
				},
			},
			{
				Name: "beta", TotalConnections: 2,
				Servers: []engine.ServerSnapshot{
					{Name: `we"ird\name`, Addr: "/tmp/redis.sock"},
				},
			},
		},
	}
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseProm is a strict little parser for the text format 0.0.4 as ferry
// writes it: HELP and TYPE before every family's samples, one TYPE per
// family, every sample's family declared, valid names, escaped label
// values, numeric values.
func parseProm(t *testing.T, text string) (samples []promSample, types map[string]string) {
	t.Helper()
	types = map[string]string{}
	helps := map[string]bool{}
	current := ""
	require.True(t, strings.HasSuffix(text, "\n"), "exposition must end in a newline")
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		where := "line " + strconv.Itoa(n+1) + ": " + line
		require.NotEmpty(t, line, where)
		if strings.HasPrefix(line, "# HELP ") {
			f := strings.SplitN(line[len("# HELP "):], " ", 2)
			require.Len(t, f, 2, where)
			require.Regexp(t, metricNameRE, f[0], where)
			require.False(t, helps[f[0]], "second HELP: "+where)
			helps[f[0]] = true
			continue
		}
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(line[len("# TYPE "):])
			require.Len(t, f, 2, where)
			require.Regexp(t, metricNameRE, f[0], where)
			require.Contains(t, []string{"counter", "gauge", "untyped", "summary", "histogram"}, f[1], where)
			_, dup := types[f[0]]
			require.False(t, dup, "second TYPE: "+where)
			require.True(t, helps[f[0]], "TYPE without HELP: "+where)
			types[f[0]] = f[1]
			current = f[0]
			continue
		}
		require.False(t, strings.HasPrefix(line, "#"), where)
		s := promSample{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		require.Positive(t, i, where)
		s.name = line[:i]
		require.Regexp(t, metricNameRE, s.name, where)
		require.Equal(t, current, s.name, "sample outside its family's block: "+where)
		rest := line[i:]
		if rest[0] == '{' {
			rest = rest[1:]
			for rest[0] != '}' {
				eq := strings.Index(rest, `="`)
				require.Positive(t, eq, where)
				ln := rest[:eq]
				require.Regexp(t, labelNameRE, ln, where)
				rest = rest[eq+2:]
				var v strings.Builder
				for {
					require.NotEmpty(t, rest, "unterminated label value: "+where)
					c := rest[0]
					rest = rest[1:]
					if c == '"' {
						break
					}
					if c == '\\' {
						require.NotEmpty(t, rest, where)
						switch rest[0] {
						case '\\':
							v.WriteByte('\\')
						case '"':
							v.WriteByte('"')
						case 'n':
							v.WriteByte('\n')
						default:
							t.Fatalf("bad escape: %s", where)
						}
						rest = rest[1:]
						continue
					}
					v.WriteByte(c)
				}
				_, dup := s.labels[ln]
				require.False(t, dup, where)
				s.labels[ln] = v.String()
				if rest[0] == ',' {
					rest = rest[1:]
				}
			}
			rest = rest[1:]
		}
		require.True(t, strings.HasPrefix(rest, " "), where)
		val := rest[1:]
		require.NotContains(t, val, " ", "timestamps are not written: "+where)
		v, err := strconv.ParseFloat(val, 64)
		require.NoError(t, err, where)
		s.value = v
		samples = append(samples, s)
	}
	for name, typ := range types {
		if typ == "counter" {
			assert.True(t, strings.HasSuffix(name, "_total"), "counter %s must end in _total", name)
		} else {
			assert.False(t, strings.HasSuffix(name, "_total"), "%s %s must not end in _total", typ, name)
		}
	}
	return samples, types
}

func find(samples []promSample, name string, labels ...string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(labels)/2 {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func TestMetricsExposition(t *testing.T) {
	text := string(AppendMetrics(nil, testSnapshot()))
	samples, types := parseProm(t, text)

	want := []struct {
		name   string
		typ    string
		labels []string
		value  float64
	}{
		{"ferry_build_info", "gauge", []string{"version", "1.2.3-test"}, 1},
		{"ferry_uptime_seconds", "gauge", nil, 90.5},
		{"ferry_event_loops", "gauge", nil, 4},
		{"ferry_client_connections", "gauge", nil, 3},
		{"ferry_client_connections_accepted_total", "counter", nil, 42},
		{"ferry_pool_client_eof_total", "counter", []string{"pool", "alpha"}, 10},
		{"ferry_pool_client_err_total", "counter", []string{"pool", "alpha"}, 1},
		{"ferry_pool_client_connections", "gauge", []string{"pool", "alpha"}, 3},
		{"ferry_pool_client_connections_accepted_total", "counter", []string{"pool", "beta"}, 2},
		{"ferry_pool_server_ejects_total", "counter", []string{"pool", "alpha"}, 2},
		{"ferry_pool_forward_error_total", "counter", []string{"pool", "alpha"}, 5},
		{"ferry_pool_fragments_total", "counter", []string{"pool", "alpha"}, 6},
		{"ferry_pool_requests_total", "counter", []string{"pool", "alpha"}, 100},
		{"ferry_server_eof_total", "counter", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 1},
		{"ferry_server_err_total", "counter", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 2},
		{"ferry_server_timedout_total", "counter", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 3},
		{"ferry_server_connections", "gauge", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 4},
		{"ferry_server_requests_total", "counter", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 70},
		{"ferry_server_request_bytes_total", "counter", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 700},
		{"ferry_server_responses_total", "counter", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 69},
		{"ferry_server_response_bytes_total", "counter", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 690},
		{"ferry_server_in_queue", "gauge", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 1},
		{"ferry_server_ejected", "gauge", []string{"pool", "alpha", "server", "s1", "addr", "127.0.0.1:6379"}, 0},
		{"ferry_server_ejected", "gauge", []string{"pool", "alpha", "server", "127.0.0.1:6380", "addr", "127.0.0.1:6380"}, 1},
		{"ferry_server_requests_total", "counter", []string{"pool", "beta", "server", `we"ird\name`, "addr", "/tmp/redis.sock"}, 0},
	}
	for _, w := range want {
		assert.Equal(t, w.typ, types[w.name], "TYPE of %s", w.name)
		labels := w.labels
		if w.name == "ferry_build_info" {
			labels = append(labels, "goversion", samples[0].labels["goversion"])
		}
		v, ok := find(samples, w.name, labels...)
		if assert.True(t, ok, "no sample %s%v in\n%s", w.name, w.labels, text) {
			assert.Equal(t, w.value, v, "%s%v", w.name, w.labels)
		}
	}
	// Three servers in all: every server family has three samples.
	for name := range types {
		if strings.HasPrefix(name, "ferry_server_") {
			n := 0
			for _, s := range samples {
				if s.name == name {
					n++
				}
			}
			assert.Equal(t, 3, n, name)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"} {
		assert.Equal(t, "gauge", types[name], name)
		v, ok := find(samples, name)
		assert.True(t, ok && v > 0, "%s = %v", name, v)
	}
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
	topKeys    = []string{"service", "source", "version", "uptime", "timestamp", "total_connections", "curr_connections"}
	poolKeys   = []string{"client_eof", "client_err", "client_connections", "server_ejects", "forward_error", "fragments"}
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

	assert.Equal(t, append(append([]string{}, poolKeys...), "s1", "127.0.0.1:6380"), jsonKeys(t, top["alpha"]))
	assert.Equal(t, append(append([]string{}, poolKeys...), `we"ird\name`), jsonKeys(t, top["beta"]))
	var alpha map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(top["alpha"], &alpha))
	for k, v := range map[string]int64{"client_eof": 10, "client_err": 1, "client_connections": 3,
		"server_ejects": 2, "forward_error": 5, "fragments": 6} {
		assert.Equal(t, v, num(alpha[k]), "alpha.%s", k)
	}
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
	assert.Equal(t, MetricsContentType, h.Get("Content-Type"))
	parseProm(t, body)
	assert.Contains(t, body, `ferry_server_requests_total{pool="alpha",server="s1",addr="127.0.0.1:6379"} 70`+"\n")

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

	code, _, body = get(t, base+"/debug/pprof/")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "goroutine")
	code, _, _ = get(t, base+"/debug/pprof/goroutine?debug=1")
	assert.Equal(t, 200, code)
	code, _, _ = get(t, base+"/debug/pprof/cmdline")
	assert.Equal(t, 200, code)

	code, _, body = get(t, base+"/")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "/metrics")
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
