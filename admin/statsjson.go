package admin

import (
	"encoding/json"
	"strconv"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/worker"
)

// AppendStatsJSON appends the stats document in twemproxy 0.5.0's layout
// and field order (service, source, version, uptime, timestamp,
// total_connections, curr_connections, then one object per pool holding its
// counters and one object per server), ending in a newline like
// nutcracker's. uptime is in seconds, timestamp in seconds since the epoch.
//
// After twemproxy's pool counters come ferry's, as plain numbers so that
// tools reading the document as twemproxy's (every object in a pool is a
// server) still read it: slow_requests, then latency percentiles in
// microseconds for the whole pool (latency_p50_us, latency_p99_us,
// latency_p999_us) and per command class (latency_read_p50_us, ...; the
// classes are read, write, multi, other for redis pools and get, set,
// delete, other for memcache pools), with each class's request count
// (latency_read_count, ...). Latency is as of each loop's last tick.
//
// in_queue_bytes, out_queue and out_queue_bytes are always 0: ferry writes
// a request to its backend in the loop iteration that parsed it, so it has
// no separate outgoing queue, and it does not count queued bytes.
func AppendStatsJSON(b []byte, snap engine.Snapshot, hostname string) []byte {
	b = append(b, `{"service":"ferry", "source":`...)
	b = appendJSONString(b, hostname)
	b = append(b, `, "version":`...)
	b = appendJSONString(b, snap.Version)
	b = append(b, `, "uptime":`...)
	b = strconv.AppendInt(b, int64(snap.Uptime.Seconds()), 10)
	b = append(b, `, "timestamp":`...)
	b = strconv.AppendInt(b, snap.Timestamp.Unix(), 10)
	b = append(b, `, "total_connections":`...)
	b = strconv.AppendUint(b, snap.TotalConnections, 10)
	b = append(b, `, "curr_connections":`...)
	b = strconv.AppendInt(b, snap.CurrConnections, 10)
	for i := range snap.Pools {
		p := &snap.Pools[i]
		b = append(b, ", "...)
		b = appendJSONString(b, p.Name)
		b = append(b, `: {"client_eof":`...)
		b = strconv.AppendUint(b, p.ClientEOF, 10)
		b = append(b, `, "client_err":`...)
		b = strconv.AppendUint(b, p.ClientErr, 10)
		b = append(b, `, "client_connections":`...)
		b = strconv.AppendInt(b, p.ClientConnections, 10)
		b = append(b, `, "server_ejects":`...)
		b = strconv.AppendUint(b, p.ServerEjects, 10)
		b = append(b, `, "forward_error":`...)
		b = strconv.AppendUint(b, p.ForwardError, 10)
		b = append(b, `, "fragments":`...)
		b = strconv.AppendUint(b, p.Fragments, 10)
		b = appendLatencyFields(b, p)
		for j := range p.Servers {
			sv := &p.Servers[j]
			if j == 0 {
				b = append(b, ", "...)
			} else {
				b = append(b, ',') // nutcracker's separator between servers
			}
			b = appendJSONString(b, sv.Name)
			b = append(b, `: {"server_eof":`...)
			b = strconv.AppendUint(b, sv.ServerEOF, 10)
			b = append(b, `, "server_err":`...)
			b = strconv.AppendUint(b, sv.ServerErr, 10)
			b = append(b, `, "server_timedout":`...)
			b = strconv.AppendUint(b, sv.ServerTimedout, 10)
			b = append(b, `, "server_connections":`...)
			b = strconv.AppendInt(b, sv.ServerConnections, 10)
			b = append(b, `, "server_ejected_at":`...)
			b = strconv.AppendInt(b, sv.ServerEjectedAt, 10)
			b = append(b, `, "requests":`...)
			b = strconv.AppendUint(b, sv.Requests, 10)
			b = append(b, `, "request_bytes":`...)
			b = strconv.AppendUint(b, sv.RequestBytes, 10)
			b = append(b, `, "responses":`...)
			b = strconv.AppendUint(b, sv.Responses, 10)
			b = append(b, `, "response_bytes":`...)
			b = strconv.AppendUint(b, sv.ResponseBytes, 10)
			b = append(b, `, "in_queue":`...)
			b = strconv.AppendInt(b, sv.InQueue, 10)
			b = append(b, `, "in_queue_bytes":0, "out_queue":0, "out_queue_bytes":0}`...)
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

func appendLatencyFields(b []byte, p *engine.PoolSnapshot) []byte {
	b = append(b, `, "slow_requests":`...)
	b = strconv.AppendUint(b, p.SlowRequests, 10)
	all := poolHistogram(p)
	b = appendPercentiles(b, "latency", &all)
	for i := range p.Latency {
		l := &p.Latency[i]
		prefix := "latency_" + l.Class
		b = append(b, `, "`...)
		b = append(b, prefix...)
		b = append(b, `_count":`...)
		b = strconv.AppendUint(b, l.Count(), 10)
		b = appendPercentiles(b, prefix, &l.Histogram)
	}
	return b
}

var percentiles = []struct {
	name string
	q    float64
}{{"_p50_us", 0.5}, {"_p99_us", 0.99}, {"_p999_us", 0.999}}

func appendPercentiles(b []byte, prefix string, h *worker.Histogram) []byte {
	for _, p := range percentiles {
		b = append(b, `, "`...)
		b = append(b, prefix...)
		b = append(b, p.name...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, h.Quantile(p.q).Microseconds(), 10)
	}
	return b
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
