package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Run is one ferry-bench (or redis-benchmark) run against one target.
type Run struct {
	Load     string  `json:"load"`
	Target   string  `json:"target"`
	Rep      int     `json:"rep"`
	OpsSec   float64 `json:"ops_per_sec"`
	Requests int64   `json:"requests"`
	P99us    float64 `json:"p99_us"`
	// CPUus is proxy CPU microseconds per request; NaN for direct runs.
	CPUus     float64 `json:"cpu_us_per_req"`
	RSSMaxKiB int64   `json:"rss_max_kib,omitempty"`
	Err       string  `json:"error,omitempty"`
}

// Agg is the median over the successful repetitions of one load and target.
type Agg struct {
	N         int // successful runs
	OpsSec    float64
	P99us     float64
	CPUus     float64
	RSSMaxKiB float64
	Err       string // when no run succeeded
	NA        string // when the target does not serve the load
}

func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// aggregate computes the medians of runs (all of one load and target).
func aggregate(runs []Run) Agg {
	var ops, p99, cpu, rss []float64
	var a Agg
	for _, r := range runs {
		if r.Err != "" {
			a.Err = r.Err
			continue
		}
		ops = append(ops, r.OpsSec)
		p99 = append(p99, r.P99us)
		cpu = append(cpu, r.CPUus)
		if r.RSSMaxKiB > 0 {
			rss = append(rss, float64(r.RSSMaxKiB))
		}
	}
	a.N = len(ops)
	if a.N > 0 {
		a.Err = ""
	}
	a.OpsSec, a.P99us, a.CPUus, a.RSSMaxKiB = median(ops), median(p99), median(cpu), median(rss)
	return a
}

// fmtOps prints ops/s as 152.3k or 1.21M.
func fmtOps(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

// fmtUs prints microseconds with 3 significant-ish digits.
func fmtUs(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// ratio returns a/b, NaN when either is missing or b is not positive.
func ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 {
		return math.NaN()
	}
	return a / b
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

// addedP99Ratio is (ferry p99 - direct p99) / (nutcracker p99 - direct p99):
// the latency ferry adds over the backend relative to what nutcracker adds.
// Undefined when nutcracker adds nothing measurable.
func addedP99Ratio(ferry, nc, direct float64) float64 {
	if math.IsNaN(ferry) || math.IsNaN(nc) || math.IsNaN(direct) {
		return math.NaN()
	}
	return ratio(ferry-direct, nc-direct)
}

// cell renders an aggregate's value, or why there is none.
func cell(a Agg, ok bool, f func(Agg) string) string {
	switch {
	case !ok:
		return "–"
	case a.NA != "":
		return "n/a"
	case a.N == 0 && a.Err != "":
		return "err"
	case a.N == 0:
		return "–"
	}
	return f(a)
}

func opsOf(a Agg) string { return fmtOps(a.OpsSec) }
func p99Of(a Agg) string { return fmtUs(a.P99us) }
func cpuOf(a Agg) string { return fmtUs(a.CPUus) }

// val returns a field of an aggregate, NaN when it has no data.
func val(a Agg, ok bool, f func(Agg) float64) float64 {
	if !ok || a.NA != "" || a.N == 0 {
		return math.NaN()
	}
	return f(a)
}

// Results holds the aggregates by load name and target name.
type Results map[string]map[string]Agg

func (r Results) get(load, target string) (Agg, bool) {
	m, ok := r[load]
	if !ok {
		return Agg{}, false
	}
	a, ok := m[target]
	return a, ok
}

func (r Results) set(load, target string, a Agg) {
	if r[load] == nil {
		r[load] = map[string]Agg{}
	}
	r[load][target] = a
}

// mainTable renders the comparison of one ferry target with direct and
// nutcracker (the first nutcracker target; others get an extra ratio column).
func mainTable(res Results, loads []string, ferry string, ncs []string) string {
	var b strings.Builder
	nc := ncs[0]
	hdr := []string{"load", "direct ops/s", "direct p99 µs",
		nc + " ops/s", nc + " p99 µs", nc + " CPU µs/req",
		"ferry ops/s", "ferry p99 µs", "ferry CPU µs/req",
		"**ferry/nc CPU**", "ferry/nc ops/s", "ferry/direct ops/s", "added p99 ferry/nc"}
	for _, o := range ncs[1:] {
		hdr = append(hdr, "ferry/"+o+" CPU")
	}
	b.WriteString("| " + strings.Join(hdr, " | ") + " |\n|")
	for i := range hdr {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	ops := func(a Agg) float64 { return a.OpsSec }
	p99 := func(a Agg) float64 { return a.P99us }
	cpu := func(a Agg) float64 { return a.CPUus }
	for _, l := range loads {
		d, dok := res.get(l, "direct")
		n, nok := res.get(l, nc)
		f, fok := res.get(l, ferry)
		row := []string{l,
			cell(d, dok, opsOf), cell(d, dok, p99Of),
			cell(n, nok, opsOf), cell(n, nok, p99Of), cell(n, nok, cpuOf),
			cell(f, fok, opsOf), cell(f, fok, p99Of), cell(f, fok, cpuOf),
			"**" + fmtRatio(ratio(val(f, fok, cpu), val(n, nok, cpu))) + "**",
			fmtRatio(ratio(val(f, fok, ops), val(n, nok, ops))),
			fmtRatio(ratio(val(f, fok, ops), val(d, dok, ops))),
			fmtRatio(addedP99Ratio(val(f, fok, p99), val(n, nok, p99), val(d, dok, p99))),
		}
		for _, o := range ncs[1:] {
			x, xok := res.get(l, o)
			row = append(row, fmtRatio(ratio(val(f, fok, cpu), val(x, xok, cpu))))
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return b.String()
}

// naNotes lists why targets were not measured.
func naNotes(res Results, loads []string, targets []string) string {
	seen := map[string]bool{}
	var b strings.Builder
	for _, l := range loads {
		for _, t := range targets {
			a, ok := res.get(l, t)
			if !ok {
				continue
			}
			var msg string
			switch {
			case a.NA != "":
				msg = fmt.Sprintf("- n/a: %s, %s: %s\n", t, familyOfLoad(l), a.NA)
			case a.N == 0 && a.Err != "":
				msg = fmt.Sprintf("- err: %s, %s: %s\n", t, l, a.Err)
			}
			if msg != "" && !seen[msg] {
				seen[msg] = true
				b.WriteString(msg)
			}
		}
	}
	return b.String()
}

// familyOfLoad names the protocol family of a load for the n/a notes.
func familyOfLoad(name string) string {
	switch {
	case strings.HasPrefix(name, "memcache binary"):
		return "memcache binary pools"
	case strings.HasPrefix(name, "memcache"):
		return "memcache pools"
	}
	return "redis pools"
}
