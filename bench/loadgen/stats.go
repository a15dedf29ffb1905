package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds, 3 significant digits, up to 60 s.
const (
	histMin = 1
	histMax = int64(60 * time.Second)
	histSig = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMin, histMax, histSig) }

// kindStats accumulates one command kind in one worker.
type kindStats struct {
	ops, hits, misses, errors int64
	hist                      *hdr.Histogram // nil until first use
}

func (k *kindStats) record(latNs int64, rep *reply) {
	k.ops++
	k.hits += int64(rep.hits)
	k.misses += int64(rep.misses)
	if rep.isErr {
		k.errors++
	}
	if latNs < histMin {
		latNs = histMin
	} else if latNs > histMax {
		latNs = histMax
	}
	_ = k.hist.RecordValue(latNs)
}

// SchemaVersion identifies the layout of Result's JSON form.
const SchemaVersion = 1

// Result is the outcome of a run; its JSON form is what --json writes and
// what a suite consumes. Latencies are in microseconds, rates per second.
type Result struct {
	Tool          string `json:"tool"`
	SchemaVersion int    `json:"schema_version"`
	Label         string `json:"label,omitempty"`

	Config    ResultConfig `json:"config"`
	StartTime time.Time    `json:"start_time"`
	EndTime   time.Time    `json:"end_time"`
	Duration  float64      `json:"duration_s"`

	Totals   Stats            `json:"totals"`
	Commands map[string]Stats `json:"commands"` // keyed by "SET", "GET" or the --command name
	// Order lists the keys of Commands in display order.
	Order []string `json:"command_order"`

	BytesIn     int64   `json:"bytes_in"`
	BytesOut    int64   `json:"bytes_out"`
	BytesPerSec float64 `json:"bytes_per_sec"`

	ClientCPU CPUStats `json:"client_cpu"`

	ErrorSamples []string `json:"error_samples,omitempty"`
	// Aborted is set when the run stopped early (protocol desync, I/O error
	// or interrupt); the numbers cover what completed before that.
	Aborted string `json:"aborted,omitempty"`
}

// ResultConfig is the run configuration as recorded in the result.
type ResultConfig struct {
	Config
	Target      string  `json:"target"`
	KeyPattern  string  `json:"key_pattern"`
	Connections int     `json:"connections"`
	TestTimeSec float64 `json:"test_time_s,omitempty"`
}

// Stats are the counters and latency summary of one command kind or of all.
type Stats struct {
	Ops          int64        `json:"ops"`
	OpsPerSec    float64      `json:"ops_per_sec"`
	Hits         int64        `json:"hits"`
	Misses       int64        `json:"misses"`
	HitsPerSec   float64      `json:"hits_per_sec"`
	MissesPerSec float64      `json:"misses_per_sec"`
	Errors       int64        `json:"errors"`
	Latency      LatencyStats `json:"latency_us"`
}

// LatencyStats summarises a histogram, in microseconds.
type LatencyStats struct {
	Avg         float64      `json:"avg"`
	Min         float64      `json:"min"`
	P50         float64      `json:"p50"`
	P90         float64      `json:"p90"`
	P99         float64      `json:"p99"`
	P999        float64      `json:"p99_9"`
	P9999       float64      `json:"p99_99"`
	Max         float64      `json:"max"`
	Percentiles []Percentile `json:"percentiles,omitempty"`
}

// Percentile is one point of the latency distribution.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	Micros     float64 `json:"us"`
}

// CPUStats is this process's CPU use over the measured interval.
type CPUStats struct {
	UserSec     float64 `json:"user_s"`
	SysSec      float64 `json:"sys_s"`
	MicrosPerOp float64 `json:"us_per_req"`
}

var ladder = []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

func us(ns int64) float64 { return float64(ns) / 1e3 }

func summarize(k *kindStats, secs float64) Stats {
	s := Stats{
		Ops:    k.ops,
		Hits:   k.hits,
		Misses: k.misses,
		Errors: k.errors,
	}
	if secs > 0 {
		s.OpsPerSec = float64(k.ops) / secs
		s.HitsPerSec = float64(k.hits) / secs
		s.MissesPerSec = float64(k.misses) / secs
	}
	h := k.hist
	if h == nil || h.TotalCount() == 0 {
		return s
	}
	s.Latency = LatencyStats{
		Avg:   h.Mean() / 1e3,
		Min:   us(h.Min()),
		P50:   us(h.ValueAtPercentile(50)),
		P90:   us(h.ValueAtPercentile(90)),
		P99:   us(h.ValueAtPercentile(99)),
		P999:  us(h.ValueAtPercentile(99.9)),
		P9999: us(h.ValueAtPercentile(99.99)),
		Max:   us(h.Max()),
	}
	for _, p := range ladder {
		v := h.ValueAtPercentile(p)
		if p == 0 {
			v = h.Min()
		} else if p == 100 {
			v = h.Max()
		}
		s.Latency.Percentiles = append(s.Latency.Percentiles, Percentile{Percentile: p, Micros: us(v)})
	}
	return s
}

// WriteJSON writes the result to path ("-" for stdout).
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func ms(v float64) string { return fmt.Sprintf("%.3f", v/1e3) }

// WriteText writes the human-readable summary.
func (r *Result) WriteText(w io.Writer, hideHistogram bool) {
	c := &r.Config
	mode := fmt.Sprintf("%.2f s", r.Duration)
	if c.TestTimeSec == 0 {
		mode = fmt.Sprintf("%d req/conn in %.2f s", c.Requests, r.Duration)
	}
	mix := "ratio " + fmt.Sprintf("%d:%d", c.RatioSet, c.RatioGet)
	if c.Command != "" {
		mix = "command " + fmt.Sprintf("%q", c.Command)
	} else if c.MultiKeyGet > 1 {
		mix += fmt.Sprintf(", %d keys/get", c.MultiKeyGet)
	}
	label := ""
	if r.Label != "" {
		label = " [" + r.Label + "]"
	}
	fmt.Fprintf(w, "ferry-bench%s: %s %s, %d threads x %d conns, pipeline %d, %s, %d B values, keys %s %d..%d, %s\n",
		label, c.Protocol, c.Target, c.Threads, c.Clients, c.Pipeline, mix, c.DataSize,
		c.KeyPattern, c.KeyMin, c.KeyMax, mode)
	if r.Aborted != "" {
		fmt.Fprintf(w, "ABORTED: %s\n", r.Aborted)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Type\tOps/sec\tHits/sec\tMisses/sec\tErrors\tAvg(ms)\tp50(ms)\tp99(ms)\tp99.9(ms)\tMax(ms)\tKB/sec\t")
	fmt.Fprintln(tw, "----\t-------\t--------\t----------\t------\t-------\t-------\t-------\t---------\t-------\t------\t")
	row := func(name string, s Stats, kb string) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.OpsPerSec, s.HitsPerSec,
			s.MissesPerSec, s.Errors, ms(s.Latency.Avg), ms(s.Latency.P50), ms(s.Latency.P99),
			ms(s.Latency.P999), ms(s.Latency.Max), kb)
	}
	for _, name := range r.Order {
		row(name, r.Commands[name], "-")
	}
	row("Totals", r.Totals, fmt.Sprintf("%.0f", r.BytesPerSec/1024))
	tw.Flush()
	fmt.Fprintf(w, "client CPU: %.3f µs/req (user %.2f s + sys %.2f s over %d req)\n",
		r.ClientCPU.MicrosPerOp, r.ClientCPU.UserSec, r.ClientCPU.SysSec, r.Totals.Ops)
	for _, e := range r.ErrorSamples {
		fmt.Fprintf(w, "error sample: %s\n", e)
	}
	if hideHistogram {
		return
	}
	fmt.Fprintln(w, "\nLatency distribution (ms):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"Percentile"}
	head = append(head, r.Order...)
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for i, p := range ladder {
		cols := []string{fmt.Sprintf("p%g", p)}
		for _, name := range r.Order {
			ps := r.Commands[name].Latency.Percentiles
			if i < len(ps) {
				cols = append(cols, ms(ps[i].Micros))
			} else {
				cols = append(cols, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	tw.Flush()
}
