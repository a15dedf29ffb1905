package admin

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"time"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/worker"
)

// The status page: one self-contained HTML file (styles and script inline,
// nothing fetched from elsewhere) that polls /status.json every second.

//go:embed static/status.html
var statusPage []byte

// statusDoc is /status.json: the snapshot laid out for the page. Rates are
// left to the page (differences between two polls).
type statusDoc struct {
	Version           string       `json:"version"`
	Hostname          string       `json:"hostname"`
	UptimeSeconds     float64      `json:"uptime_seconds"`
	TimestampMs       int64        `json:"timestamp_ms"`
	Loops             int          `json:"loops"`
	ClientConnections int64        `json:"client_connections"`
	TotalConnections  uint64       `json:"total_connections"`
	Pools             []statusPool `json:"pools"`
}

type statusPool struct {
	Name               string          `json:"name"`
	Listen             string          `json:"listen"`
	Protocol           string          `json:"protocol"`
	ClientConnections  int64           `json:"client_connections"`
	TotalConnections   uint64          `json:"total_connections"`
	Requests           uint64          `json:"requests"`
	ClientEOF          uint64          `json:"client_eof"`
	ClientErr          uint64          `json:"client_err"`
	ForwardError       uint64          `json:"forward_error"`
	Fragments          uint64          `json:"fragments"`
	ServerEjects       uint64          `json:"server_ejects"`
	SlowRequests       uint64          `json:"slow_requests"`
	SlowlogThresholdMs float64         `json:"slowlog_threshold_ms"`
	Latency            statusLatency   `json:"latency"` // all classes
	Classes            []statusLatency `json:"classes"`
	Servers            []statusServer  `json:"servers"`
}

type statusLatency struct {
	Class  string  `json:"class,omitempty"`
	Count  uint64  `json:"count"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	P999us float64 `json:"p999_us"`
}

type statusServer struct {
	Name        string `json:"name"`
	Addr        string `json:"addr"`
	State       string `json:"state"` // up, down, ejected, idle
	Connections int64  `json:"connections"`
	Failures    int    `json:"failures"`
	Requests    uint64 `json:"requests"`
	Responses   uint64 `json:"responses"`
	InQueue     int64  `json:"in_queue"`
	ServerErr   uint64 `json:"server_err"`
	ServerEOF   uint64 `json:"server_eof"`
	Timedout    uint64 `json:"server_timedout"`
	EjectedAtUs int64  `json:"ejected_at_us"`
}

// serverState says at a glance how a server is: ejected (out of the ring),
// down (its last connect or connection failed), up (connected), or idle
// (no connection yet: nothing was sent to it, and preconnect is off).
func serverState(s *engine.ServerSnapshot) string {
	switch {
	case s.Ejected:
		return "ejected"
	case s.Down:
		return "down"
	case s.ServerConnections > 0:
		return "up"
	}
	return "idle"
}

func latencyOf(class string, h *worker.Histogram) statusLatency {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return statusLatency{Class: class, Count: h.Count(),
		P50us: us(h.Quantile(0.5)), P99us: us(h.Quantile(0.99)), P999us: us(h.Quantile(0.999))}
}

// poolHistogram merges a pool's classes.
func poolHistogram(p *engine.PoolSnapshot) worker.Histogram {
	var all worker.Histogram
	for i := range p.Latency {
		h := &p.Latency[i].Histogram
		for j, c := range h.Counts {
			all.Counts[j] += c
		}
		all.Sum += h.Sum
		all.Slow += h.Slow
	}
	return all
}

func buildStatus(snap engine.Snapshot, hostname string) statusDoc {
	doc := statusDoc{Version: snap.Version, Hostname: hostname, UptimeSeconds: snap.Uptime.Seconds(),
		TimestampMs: snap.Timestamp.UnixMilli(), Loops: snap.Loops,
		ClientConnections: snap.CurrConnections, TotalConnections: snap.TotalConnections,
		Pools: make([]statusPool, 0, len(snap.Pools))}
	for i := range snap.Pools {
		p := &snap.Pools[i]
		all := poolHistogram(p)
		sp := statusPool{Name: p.Name, Listen: p.Listen, Protocol: p.Protocol,
			ClientConnections: p.ClientConnections, TotalConnections: p.TotalConnections, Requests: p.Requests,
			ClientEOF: p.ClientEOF, ClientErr: p.ClientErr, ForwardError: p.ForwardError, Fragments: p.Fragments,
			ServerEjects: p.ServerEjects, SlowRequests: p.SlowRequests,
			SlowlogThresholdMs: float64(p.SlowlogThreshold) / float64(time.Millisecond),
			Latency:            latencyOf("", &all),
			Classes:            make([]statusLatency, 0, len(p.Latency)),
			Servers:            make([]statusServer, 0, len(p.Servers))}
		for j := range p.Latency {
			sp.Classes = append(sp.Classes, latencyOf(p.Latency[j].Class, &p.Latency[j].Histogram))
		}
		for j := range p.Servers {
			s := &p.Servers[j]
			sp.Servers = append(sp.Servers, statusServer{Name: s.Name, Addr: s.Addr, State: serverState(s),
				Connections: s.ServerConnections, Failures: s.Failures, Requests: s.Requests, Responses: s.Responses,
				InQueue: s.InQueue, ServerErr: s.ServerErr, ServerEOF: s.ServerEOF, Timedout: s.ServerTimedout,
				EjectedAtUs: s.ServerEjectedAt})
		}
		doc.Pools = append(doc.Pools, sp)
	}
	return doc
}

func (s *Server) handleStatusPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Everything is inline: forbid the page to load or send anything else.
	h.Set("Content-Security-Policy", "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(statusPage)
}

func (s *Server) handleStatusJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(buildStatus(s.src.Stats(), s.hostname))
}
