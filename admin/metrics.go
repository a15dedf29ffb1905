package admin

import (
	"log/slog"
	"net/http"
	"runtime"
	"runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/worker"
)

// Metrics are exposed with prometheus/client_golang: a registry holding the
// library's Go runtime and process collectors and one custom collector
// that, on every scrape, takes one engine snapshot (the loops' shards
// merged) and turns it into constant metrics. Nothing on the data path
// knows about Prometheus.

type metricKind uint8

const (
	counter metricKind = iota
	gauge
)

func (k metricKind) valueType() prometheus.ValueType {
	if k == counter {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}

type poolMetric struct {
	desc *prometheus.Desc
	kind metricKind
	val  func(*engine.PoolSnapshot) float64
}

type serverMetric struct {
	desc *prometheus.Desc
	kind metricKind
	val  func(*engine.ServerSnapshot) float64
}

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"pool"}, nil)
}

func serverDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"pool", "server", "addr"}, nil)
}

var poolMetrics = []poolMetric{
	{poolDesc("ferry_pool_client_eof_total", "Client connections closed by the client (EOF)."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.ClientEOF) }},
	{poolDesc("ferry_pool_client_err_total", "Client connections closed on an error."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.ClientErr) }},
	{poolDesc("ferry_pool_client_connections", "Client connections open now."), gauge,
		func(p *engine.PoolSnapshot) float64 { return float64(p.ClientConnections) }},
	{poolDesc("ferry_pool_client_connections_accepted_total", "Client connections accepted."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.TotalConnections) }},
	{poolDesc("ferry_pool_server_ejects_total", "Times a server of the pool was ejected (auto_eject_hosts)."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.ServerEjects) }},
	{poolDesc("ferry_pool_forward_error_total", "Requests that could not be forwarded to a server."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.ForwardError) }},
	{poolDesc("ferry_pool_fragments_total", "Sub-requests created by splitting multi-key requests."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.Fragments) }},
	{poolDesc("ferry_pool_requests_total", "Requests received from clients."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.Requests) }},
	{poolDesc("ferry_pool_cluster_moved_total", "redis_cluster pools: -MOVED replies followed (the request sent to the new owner)."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.Moved) }},
	{poolDesc("ferry_pool_cluster_ask_total", "redis_cluster pools: -ASK replies followed (ASKING and the request sent to the importing node)."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.Asked) }},
	{poolDesc("ferry_pool_slow_requests_total", "Requests at least slowlog_threshold_ms slow, from arrival to reply."), counter,
		func(p *engine.PoolSnapshot) float64 { return float64(p.SlowRequests) }},
	{poolDesc("ferry_pool_slowlog_threshold_seconds", "The pool's slowlog_threshold_ms, in seconds; 0 when off."), gauge,
		func(p *engine.PoolSnapshot) float64 { return p.SlowlogThreshold.Seconds() }},
}

var serverMetrics = []serverMetric{
	{serverDesc("ferry_server_eof_total", "Server connections closed by the server (EOF)."), counter,
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerEOF) }},
	{serverDesc("ferry_server_err_total", "Server connections closed on an error."), counter,
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerErr) }},
	{serverDesc("ferry_server_timedout_total", "Requests that timed out on the server."), counter,
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerTimedout) }},
	{serverDesc("ferry_server_connections", "Server connections open now (all event loops)."), gauge,
		func(s *engine.ServerSnapshot) float64 { return float64(s.ServerConnections) }},
	{serverDesc("ferry_server_ejected", "1 while the server is ejected from the pool, else 0."), gauge,
		func(s *engine.ServerSnapshot) float64 { return b2f(s.Ejected) }},
	{serverDesc("ferry_server_consecutive_failures", "Consecutive failures counted against server_failure_limit since the server's last success."), gauge,
		func(s *engine.ServerSnapshot) float64 { return float64(s.Failures) }},
	{serverDesc("ferry_server_requests_total", "Requests sent to the server."), counter,
		func(s *engine.ServerSnapshot) float64 { return float64(s.Requests) }},
	{serverDesc("ferry_server_request_bytes_total", "Request bytes sent to the server."), counter,
		func(s *engine.ServerSnapshot) float64 { return float64(s.RequestBytes) }},
	{serverDesc("ferry_server_responses_total", "Responses received from the server."), counter,
		func(s *engine.ServerSnapshot) float64 { return float64(s.Responses) }},
	{serverDesc("ferry_server_response_bytes_total", "Response bytes received from the server."), counter,
		func(s *engine.ServerSnapshot) float64 { return float64(s.ResponseBytes) }},
	{serverDesc("ferry_server_in_queue", "Requests sent to the server and waiting for its response."), gauge,
		func(s *engine.ServerSnapshot) float64 { return float64(s.InQueue) }},
}

var (
	buildInfoDesc = prometheus.NewDesc("ferry_build_info", "Always 1; the labels say which ferry is running.",
		[]string{"version", "goversion"}, nil)
	uptimeDesc   = prometheus.NewDesc("ferry_uptime_seconds", "Seconds since ferry started.", nil, nil)
	loopsDesc    = prometheus.NewDesc("ferry_event_loops", "Event loops serving connections.", nil, nil)
	clientsDesc  = prometheus.NewDesc("ferry_client_connections", "Client connections open now, all pools.", nil, nil)
	acceptedDesc = prometheus.NewDesc("ferry_client_connections_accepted_total", "Client connections accepted, all pools.", nil, nil)
	latencyDesc  = prometheus.NewDesc("ferry_request_duration_seconds",
		"Time from a request's arrival to its reply's delivery to the client, per pool and command class "+
			"(redis: read, write, multi, other; memcache: get, set, delete, other). As of each event loop's last tick (50 ms).",
		[]string{"pool", "class"}, nil)
	gcCyclesDesc = prometheus.NewDesc("go_gc_cycles_total", "Completed GC cycles.", nil, nil)
	reloadsDesc  = prometheus.NewDesc("ferry_config_reloads_total",
		"Configuration reloads: applied (result=ok), or refused with nothing changed (result=failed).", []string{"result"}, nil)
)

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// collector turns one engine snapshot per scrape into metrics.
type collector struct{ src Source }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{buildInfoDesc, uptimeDesc, loopsDesc, clientsDesc, acceptedDesc, latencyDesc, gcCyclesDesc, reloadsDesc} {
		ch <- d
	}
	for _, m := range poolMetrics {
		ch <- m.desc
	}
	for _, m := range serverMetrics {
		ch <- m.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, snap.Version, runtime.Version())
	ch <- prometheus.MustNewConstMetric(uptimeDesc, prometheus.GaugeValue, snap.Uptime.Seconds())
	ch <- prometheus.MustNewConstMetric(loopsDesc, prometheus.GaugeValue, float64(snap.Loops))
	ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, float64(snap.CurrConnections))
	ch <- prometheus.MustNewConstMetric(acceptedDesc, prometheus.CounterValue, float64(snap.TotalConnections))
	ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(snap.Reloads), "ok")
	ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(snap.ReloadFailures), "failed")
	for i := range snap.Pools {
		p := &snap.Pools[i]
		for _, m := range poolMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind.valueType(), m.val(p), p.Name)
		}
		for j := range p.Servers {
			s := &p.Servers[j]
			for _, m := range serverMetrics {
				ch <- prometheus.MustNewConstMetric(m.desc, m.kind.valueType(), m.val(s), p.Name, s.Name, s.Addr)
			}
		}
		for j := range p.Latency {
			l := &p.Latency[j]
			ch <- prometheus.MustNewConstHistogram(latencyDesc, l.Count(), l.Sum.Seconds(), promBuckets(&l.Histogram),
				p.Name, l.Class)
		}
	}
	gc := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(gc)
	if gc[0].Value.Kind() == metrics.KindUint64 {
		ch <- prometheus.MustNewConstMetric(gcCyclesDesc, prometheus.CounterValue, float64(gc[0].Value.Uint64()))
	}
}

// promBuckets is h's cumulative counts at the exported bounds, 50 µs to 1 s.
func promBuckets(h *worker.Histogram) map[float64]uint64 {
	out := make(map[float64]uint64, len(worker.PromBounds))
	for _, le := range worker.PromBounds {
		out[le.Seconds()] = h.CumulativeCount(le)
	}
	return out
}

// newRegistry is ferry's metrics: its own from src, and the Go runtime's
// and the process's as client_golang names them (go_goroutines, go_threads,
// go_memstats_*, go_sched_gomaxprocs_threads, process_resident_memory_bytes,
// process_open_fds, ...). The Go collector reads runtime/metrics, so a
// scrape does not stop the world.
func newRegistry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{src: src},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metricsHandler serves reg in the format the scraper asks for (text 0.0.4
// by default, OpenMetrics on request).
func metricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}
