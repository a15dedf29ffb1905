package main

import (
	"fmt"
	"io"
)

// statField is one field of the stats document (/stats and the -s port).
type statField struct{ name, meaning string }

// poolStats and serverStats describe the fields admin.AppendStatsJSON
// writes for each pool and each of its servers, in its order; a test keeps
// the lists and the document in step. The meanings are nutcracker's where
// ferry's counter means the same, with what differs said.
var poolStats = []statField{
	{"client_eof", "# eof on client connections"},
	{"client_err", "# errors on client connections"},
	{"client_connections", "# active client connections"},
	{"server_ejects", "# times backend server was ejected"},
	{"forward_error", "# times we encountered a forwarding error"},
	{"fragments", "# fragments created from a multi-vector request"},
	{"slow_requests", "# requests slower than slowlog_threshold_ms (ferry)"},
	{"latency_p50_us", "median latency from request arrival to reply, in usec (ferry)"},
	{"latency_p99_us", "99th percentile latency, in usec (ferry)"},
	{"latency_p999_us", "99.9th percentile latency, in usec (ferry)"},
}

// classStats are written per command class after the pool's own latency
// fields: read, write, multi, other (redis) or get, set, delete, other
// (memcache).
var classStats = []statField{
	{"latency_<class>_count", "# requests of the class (ferry)"},
	{"latency_<class>_p50_us", "median latency of the class, in usec (ferry)"},
	{"latency_<class>_p99_us", "99th percentile latency of the class, in usec (ferry)"},
	{"latency_<class>_p999_us", "99.9th percentile latency of the class, in usec (ferry)"},
}

var serverStats = []statField{
	{"server_eof", "# eof on server connections"},
	{"server_err", "# errors on server connections"},
	{"server_timedout", "# timeouts on server connections"},
	{"server_connections", "# active server connections"},
	{"server_ejected_at", "timestamp when server was ejected in usec since epoch"},
	{"requests", "# requests"},
	{"request_bytes", "total request bytes"},
	{"responses", "# responses"},
	{"response_bytes", "total response bytes"},
	{"in_queue", "# requests in incoming queue"},
	{"in_queue_bytes", "always 0: ferry does not count queued bytes"},
	{"out_queue", "always 0: ferry writes a request in the loop iteration that parsed it"},
	{"out_queue_bytes", "always 0: as out_queue"},
}

// describeStats prints the stats fields as nutcracker -D does.
func describeStats(w io.Writer) {
	fmt.Fprintf(w, "This is ferry-%s\n\n", version)
	section := func(title string, fields []statField) {
		fmt.Fprintf(w, "%s:\n", title)
		for _, f := range fields {
			fmt.Fprintf(w, "  %-*s%q\n", max(20, len(f.name)+1), f.name, f.meaning)
		}
	}
	section("pool stats", poolStats)
	fmt.Fprintln(w)
	section("pool stats per command class (redis: read, write, multi, other; memcache: get, set, delete, other)", classStats)
	fmt.Fprintln(w)
	section("server stats", serverStats)
}
