package admin

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/ferry-proxy/ferry/engine"
)

// MetricsContentType is the Content-Type of Prometheus' text format 0.0.4.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

type metricKind string

const (
	counter metricKind = "counter"
	gauge   metricKind = "gauge"
)

// family is one metric family: its HELP and TYPE lines, then its samples.
type family struct {
	name string
}

func (f *family) begin(b []byte, name string, kind metricKind, help string) []byte {
	f.name = name
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendHelp(b, help)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, kind...)
	return append(b, '\n')
}

// sample appends `name{l1="v1",...} value`; labels are name/value pairs.
func (f *family) sample(b []byte, value float64, labels ...string) []byte {
	b = append(b, f.name...)
	if len(labels) > 0 {
		b = append(b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, labels[i]...)
			b = append(b, `="`...)
			b = appendLabelValue(b, labels[i+1])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, value)
	return append(b, '\n')
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendHelp escapes a HELP text: backslash and newline.
func appendHelp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendLabelValue escapes a label value: backslash, double quote, newline.
func appendLabelValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

type poolMetric struct {
	name string
	kind metricKind
	help string
	val  func(*engine.PoolSnapshot) float64
}

var poolMetrics = []poolMetric{
	{"ferry_pool_client_eof_total", counter, "Client connections closed by the client (EOF).",
		func(p *engine.PoolSnapshot) float64 { return float64(p.ClientEOF) }},
	{"ferry_pool_client_err_total", counter, "Client connections closed on an error.",
		func(p *engine.PoolSnapshot) float64 { return float64(p.ClientErr) }},
	{"ferry_pool_client_connections", gauge, "Client connections open now.",
		func(p *engine.PoolSnapshot) float64 { return float64(p.ClientConnections) }},
	{"ferry_pool_client_connections_accepted_total", counter, "Client connections accepted.",
		func(p *engine.PoolSnapshot) float64 { return float64(p.TotalConnections) }},
	{"ferry_pool_server_ejects_total", counter, "Times a server of the pool was ejected (auto_eject_hosts).",
		func(p *engine.PoolSnapshot) float64 { return float64(p.ServerEjects) }},
	{"ferry_pool_forward_error_total", counter, "Requests that could not be forwarded to a server.",
		func(p *engine.PoolSnapshot) float64 { return float64(p.ForwardError) }},
	{"ferry_pool_fragments_total", counter, "Sub-requests created by splitting multi-key requests.",
		func(p *engine.PoolSnapshot) float64 { return float64(p.Fragments) }},
	{"ferry_pool_requests_total", counter, "Requests received from clients.",
		func(p *engine.PoolSnapshot) float64 { return float64(p.Requests) }},
}

type serverMetric struct {
	name string
	kind metricKind
	help string
	val  func(*engine.ServerSnapshot) float64
}

var serverMetrics = []serverMetric{
	{"ferry_server_eof_total", counter, "Server connections closed by the server (EOF).",
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerEOF) }},
	{"ferry_server_err_total", counter, "Server connections closed on an error.",
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerErr) }},
	{"ferry_server_timedout_total", counter, "Requests that timed out on the server.",
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerTimedout) }},
	{"ferry_server_connections", gauge, "Server connections open now (all event loops).",
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerConnections) }},
	{"ferry_server_ejected", gauge, "1 while the server is ejected from the pool, else 0.",
		func(s *engine.ServerSnapshot) float64 { return b2f(s.Ejected) }},
	{"ferry_server_requests_total", counter, "Requests sent to the server.",
		func(s *engine.ServerSnapshot) float64 { return float64(s.Requests) }},
	{"ferry_server_request_bytes_total", counter, "Request bytes sent to the server.",
		func(s *engine.ServerSnapshot) float64 { return float64(s.RequestBytes) }},
	{"ferry_server_responses_total", counter, "Responses received from the server.",
		func(s *engine.ServerSnapshot) float64 { return float64(s.Responses) }},
	{"ferry_server_response_bytes_total", counter, "Response bytes received from the server.",
		func(s *engine.ServerSnapshot) float64 { return float64(s.ResponseBytes) }},
	{"ferry_server_in_queue", gauge, "Requests sent to the server and waiting for its response.",
		func(s *engine.ServerSnapshot) float64 { return float64(s.InQueue) }},
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// AppendMetrics appends the Prometheus text exposition (format 0.0.4) of
// snap and of the process's Go runtime basics.
func AppendMetrics(b []byte, snap engine.Snapshot) []byte {
	var f family
	b = f.begin(b, "ferry_build_info", gauge, "Always 1; the labels say which ferry is running.")
	b = f.sample(b, 1, "version", snap.Version, "goversion", runtime.Version())
	b = f.begin(b, "ferry_uptime_seconds", gauge, "Seconds since ferry started.")
	b = f.sample(b, snap.Uptime.Seconds())
	b = f.begin(b, "ferry_event_loops", gauge, "Event loops serving connections.")
	b = f.sample(b, float64(snap.Loops))
	b = f.begin(b, "ferry_client_connections", gauge, "Client connections open now, all pools.")
	b = f.sample(b, float64(snap.CurrConnections))
	b = f.begin(b, "ferry_client_connections_accepted_total", counter, "Client connections accepted, all pools.")
	b = f.sample(b, float64(snap.TotalConnections))

	for _, m := range poolMetrics {
		b = f.begin(b, m.name, m.kind, m.help)
		for i := range snap.Pools {
			p := &snap.Pools[i]
			b = f.sample(b, m.val(p), "pool", p.Name)
		}
	}
	for _, m := range serverMetrics {
		b = f.begin(b, m.name, m.kind, m.help)
		for i := range snap.Pools {
			p := &snap.Pools[i]
			for j := range p.Servers {
				s := &p.Servers[j]
				b = f.sample(b, m.val(s), "pool", p.Name, "server", s.Name, "addr", s.Addr)
			}
		}
	}
	return appendRuntime(b)
}

var runtimeSamples = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/cycles/total:gc-cycles",
	"/sched/gomaxprocs:threads",
}

// appendRuntime appends the Go runtime and process basics, named as
// client_golang's default collectors name them. runtime/metrics is read
// instead of runtime.ReadMemStats so a scrape never stops the world.
func appendRuntime(b []byte) []byte {
	var f family
	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, n := range runtimeSamples {
		samples[i].Name = n
	}
	metrics.Read(samples)
	u := func(i int) float64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return float64(samples[i].Value.Uint64())
		}
		return 0
	}

	b = f.begin(b, "go_goroutines", gauge, "Number of goroutines that currently exist.")
	b = f.sample(b, float64(runtime.NumGoroutine()))
	b = f.begin(b, "go_threads", gauge, "Number of OS threads created.")
	b = f.sample(b, float64(pprof.Lookup("threadcreate").Count()))
	b = f.begin(b, "go_sched_gomaxprocs_threads", gauge, "GOMAXPROCS: OS threads that can execute Go code at once.")
	b = f.sample(b, u(3))
	b = f.begin(b, "go_memstats_heap_inuse_bytes", gauge, "Number of heap bytes that are in use.")
	b = f.sample(b, u(0)+u(1))
	b = f.begin(b, "go_gc_cycles_total", counter, "Completed GC cycles.")
	b = f.sample(b, u(2))

	if rss, ok := residentBytes(); ok {
		b = f.begin(b, "process_resident_memory_bytes", gauge, "Resident memory size in bytes.")
		b = f.sample(b, rss)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		b = f.begin(b, "process_open_fds", gauge, "Number of open file descriptors.")
		b = f.sample(b, float64(len(fds)))
	}
	return b
}

// residentBytes reads the resident set size from /proc/self/statm (its
// second field, in pages).
func residentBytes() (float64, bool) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(bytes.TrimSpace(data)))
	if len(fields) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(pages) * float64(os.Getpagesize()), true
}
