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
	// Syscalls is system calls per request made by the proxy process (by
	// the backend in direct runs) during the run, from perf stat; NaN when
	// not counted. SyscallsByCall breaks it down by call (read, writev,
	// epoll_wait, ...); SyscallsOf names the process counted.
	Syscalls       float64            `json:"syscalls_per_req"`
	SyscallsByCall map[string]float64 `json:"syscalls_per_req_by_call,omitempty"`
	SyscallsOf     string             `json:"syscalls_of,omitempty"`
	SyscallsErr    string             `json:"syscalls_error,omitempty"`
	// SyscallRun marks a run made only to count system calls (perf
	// attached): its ops/s, latency and CPU are not reported.
	SyscallRun bool   `json:"syscall_run,omitempty"`
	Err        string `json:"error,omitempty"`
}

// Agg is the median over the successful repetitions of one load and target.
type Agg struct {
	N         int // successful runs
	OpsSec    float64
	P99us     float64
	CPUus     float64
	RSSMaxKiB float64
	Sys       float64            // syscalls per request; NaN when not counted
	SysGroups map[string]float64 // by sysGroupNames column; NaN when not counted
	Err       string             // when no run succeeded
	NA        string             // when the target does not serve the load
	// StartFail marks an Err that is the proxy's failure to start (or its
	// refusal of a configuration it should serve), the same for every load.
	StartFail bool
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
	a.addSyscalls(runs)
	return a
}

// addSyscalls sets the syscall medians from the successful runs that
// counted them (the measured runs themselves, or runs made for counting).
func (a *Agg) addSyscalls(runs []Run) {
	var sys []float64
	groups := map[string][]float64{}
	for _, r := range runs {
		if r.Err != "" || math.IsNaN(r.Syscalls) {
			continue
		}
		sys = append(sys, r.Syscalls)
		for g, v := range sysGroupValues(r.Syscalls, r.SyscallsByCall) {
			groups[g] = append(groups[g], v)
		}
	}
	a.Sys = median(sys)
	a.SysGroups = map[string]float64{}
	for _, g := range sysGroupNames() {
		a.SysGroups[g] = median(groups[g])
	}
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

// sysOf prints syscalls per request; n/a when they were not counted.
func sysOf(a Agg) string { return fmtSys(a.Sys) }

// fmtSys prints syscalls per request as fmtUs prints microseconds; n/a when
// they were not counted.
func fmtSys(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmtUs(x)
}

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
// direct's syscalls are the backend server's own.
func mainTable(res Results, loads []string, ferry string, ncs []string) string {
	var b strings.Builder
	nc := ncs[0]
	hdr := []string{"load", "direct ops/s", "direct p99 µs", "direct syscalls/req",
		nc + " ops/s", nc + " p99 µs", nc + " CPU µs/req", nc + " syscalls/req",
		"ferry ops/s", "ferry p99 µs", "ferry CPU µs/req", "ferry syscalls/req",
		"**ferry/nc CPU**", "ferry/nc syscalls", "ferry/nc ops/s", "ferry/direct ops/s", "added p99 ferry/nc"}
	for _, o := range ncs[1:] {
		hdr = append(hdr, "ferry/"+o+" CPU")
	}
	writeHeader(&b, hdr)
	for _, l := range loads {
		d, dok := res.get(l, "direct")
		n, nok := res.get(l, nc)
		f, fok := res.get(l, ferry)
		row := []string{l,
			cell(d, dok, opsOf), cell(d, dok, p99Of), cell(d, dok, sysOf),
			cell(n, nok, opsOf), cell(n, nok, p99Of), cell(n, nok, cpuOf), cell(n, nok, sysOf),
			cell(f, fok, opsOf), cell(f, fok, p99Of), cell(f, fok, cpuOf), cell(f, fok, sysOf),
			"**" + fmtRatio(ratio(val(f, fok, aCPU), val(n, nok, aCPU))) + "**",
			fmtRatio(ratio(val(f, fok, aSys), val(n, nok, aSys))),
			fmtRatio(ratio(val(f, fok, aOps), val(n, nok, aOps))),
			fmtRatio(ratio(val(f, fok, aOps), val(d, dok, aOps))),
			fmtRatio(addedP99Ratio(val(f, fok, aP99), val(n, nok, aP99), val(d, dok, aP99))),
		}
		for _, o := range ncs[1:] {
			x, xok := res.get(l, o)
			row = append(row, fmtRatio(ratio(val(f, fok, aCPU), val(x, xok, aCPU))))
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return b.String()
}

func aOps(a Agg) float64 { return a.OpsSec }
func aP99(a Agg) float64 { return a.P99us }
func aCPU(a Agg) float64 { return a.CPUus }
func aSys(a Agg) float64 { return a.Sys }

// writeHeader writes a markdown table header, the first column left-aligned
// and the others right-aligned.
func writeHeader(b *strings.Builder, hdr []string) {
	b.WriteString("| " + strings.Join(hdr, " | ") + " |\n|---|")
	b.WriteString(strings.Repeat("---:|", len(hdr)-1) + "\n")
}

// handoffTable puts the hand-off variant's row next to the per-loop row of
// the same --threads for each load, with their ratios to nutcracker and the
// hand-off's to per-loop.
func handoffTable(res Results, loads []string, perLoop, handoff Target, nc string) string {
	var b strings.Builder
	writeHeader(&b, []string{"load", "ferry", "ops/s", "p99 µs", "CPU µs/req", "syscalls/req",
		"**/nc CPU**", "/nc syscalls", "/nc ops/s", "hand-off/per-loop CPU", "hand-off/per-loop syscalls", "hand-off/per-loop ops/s"})
	for _, l := range loads {
		n, nok := res.get(l, nc)
		p, pok := res.get(l, perLoop.Name)
		for _, t := range []Target{perLoop, handoff} {
			a, ok := res.get(l, t.Name)
			row := []string{l, t.label(),
				cell(a, ok, opsOf), cell(a, ok, p99Of), cell(a, ok, cpuOf), cell(a, ok, sysOf),
				"**" + fmtRatio(ratio(val(a, ok, aCPU), val(n, nok, aCPU))) + "**",
				fmtRatio(ratio(val(a, ok, aSys), val(n, nok, aSys))),
				fmtRatio(ratio(val(a, ok, aOps), val(n, nok, aOps))),
			}
			if t.Name == perLoop.Name {
				row = append(row, "", "", "")
			} else {
				row = append(row,
					fmtRatio(ratio(val(a, ok, aCPU), val(p, pok, aCPU))),
					fmtRatio(ratio(val(a, ok, aSys), val(p, pok, aSys))),
					fmtRatio(ratio(val(a, ok, aOps), val(p, pok, aOps))))
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}
	return b.String()
}

// sysTable breaks syscalls per request down by call, one row per load and
// target that was measured.
func sysTable(res Results, loads []string, targets []Target) string {
	var b strings.Builder
	groups := sysGroupNames()
	writeHeader(&b, append([]string{"load", "target", "syscalls/req"}, groups...))
	for _, l := range loads {
		for _, t := range targets {
			a, ok := res.get(l, t.Name)
			if !ok || a.NA != "" {
				continue
			}
			row := []string{l, t.label(), cell(a, ok, sysOf)}
			for _, g := range groups {
				row = append(row, cell(a, ok, func(a Agg) string {
					v, ok := a.SysGroups[g]
					if !ok {
						return "n/a"
					}
					return fmtSys(v)
				}))
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}
	return b.String()
}

// measured reports whether a target has a successful run of any load.
func measured(res Results, loads []string, target string) bool {
	for _, l := range loads {
		if a, ok := res.get(l, target); ok && a.N > 0 {
			return true
		}
	}
	return false
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
			case a.StartFail:
				msg = fmt.Sprintf("- err: %s, %s: %s\n", t, familyOfLoad(l), a.Err)
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
