package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// rbTest is one redis-benchmark invocation: a single command at one pipeline depth.
type rbTest struct {
	Cmd      string // "set" or "get"
	Pipeline int
}

func (t rbTest) name() string {
	return fmt.Sprintf("redis-benchmark %s -P%d", strings.ToUpper(t.Cmd), t.Pipeline)
}

// SET before GET so the GETs find their keys.
var rbTests = []rbTest{{"set", 1}, {"get", 1}, {"set", 16}, {"get", 16}}

// rbRequests is -n for a test: about a second of load on this kind of machine.
func rbRequests(t rbTest, quick bool) int {
	n := 60000
	if t.Pipeline > 1 {
		n = 400000
	}
	if quick {
		n /= 5
	}
	return n
}

func rbArgs(bin string, port int, t rbTest, n int) []string {
	return []string{bin, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", t.Cmd,
		"-P", strconv.Itoa(t.Pipeline), "-c", "50", "-r", "100000", "-n", strconv.Itoa(n), "--csv"}
}

// rbCSV is one row of redis-benchmark --csv output.
type rbCSV struct {
	Test  string
	RPS   float64
	P99ms float64 // NaN when this redis-benchmark does not report it
}

// parseRBCSV reads redis-benchmark --csv output: a header line
// "test","rps","avg_latency_ms",...,"p99_latency_ms",... then one row per
// test. Older versions print only "test","rps".
func parseRBCSV(out []byte) ([]rbCSV, error) {
	// Keep only lines that look like CSV rows (progress goes elsewhere, but be lenient).
	var clean bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		if strings.HasPrefix(line, `"`) {
			clean.WriteString(line + "\n")
		}
	}
	r := csv.NewReader(&clean)
	r.FieldsPerRecord = -1
	var hdr []string
	var rows []rbCSV
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if hdr == nil && len(rec) > 0 && rec[0] == "test" {
			hdr = rec
			continue
		}
		if len(rec) < 2 {
			continue
		}
		row := rbCSV{Test: rec[0], P99ms: math.NaN()}
		if row.RPS, err = strconv.ParseFloat(rec[1], 64); err != nil {
			return nil, fmt.Errorf("redis-benchmark csv: rps %q", rec[1])
		}
		for i, h := range hdr {
			if h == "p99_latency_ms" && i < len(rec) {
				if v, err := strconv.ParseFloat(rec[i], 64); err == nil {
					row.P99ms = v
				}
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("redis-benchmark: no result in %q", tail(out))
	}
	return rows, nil
}

// runRedisBenchmark runs redis-benchmark against every redis target.
func (s *suite) runRedisBenchmark() error {
	s.logf("redis-benchmark section")
	byKey := map[[2]string][]Run{}
	for rep := 1; rep <= s.opt.reps; rep++ {
		for _, t := range rbTests {
			n := rbRequests(t, s.opt.quick)
			for _, tg := range s.targets {
				ep := tg.eps[famRedis]
				if ep.skip() {
					continue
				}
				r := Run{Load: t.name(), Target: tg.Name, Rep: rep, CPUus: math.NaN(), Syscalls: math.NaN()}
				m, err := s.measure(ep, rbArgs(s.opt.redisBenchmark, ep.port, t, n), s.opt.syscallsInRuns)
				if s.ctx.Err() != nil {
					return s.ctx.Err()
				}
				if err != nil {
					r.Err = fmt.Sprintf("%v: %s", err, tail(m.out))
				} else if rows, perr := parseRBCSV(m.out); perr != nil {
					r.Err = perr.Error()
				} else {
					r.OpsSec, r.P99us, r.Requests, r.RSSMaxKiB = rows[0].RPS, rows[0].P99ms*1000, int64(n), m.rssKiB
					if ep.proc != nil {
						r.CPUus = m.cpuSec * 1e6 / float64(n)
					}
					m.setSyscalls(&r)
				}
				s.rbRuns = append(s.rbRuns, r)
				k := [2]string{r.Load, r.Target}
				byKey[k] = append(byKey[k], r)
				if r.Err != "" {
					s.logf("%s rep %d %s: error: %s", r.Load, rep, r.Target, r.Err)
				} else {
					s.logf("%s rep %d %-16s %9s ops/s  p99 %7s µs  cpu %s µs/req%s",
						r.Load, rep, r.Target, fmtOps(r.OpsSec), fmtUs(r.P99us), fmtUs(r.CPUus), sysLog(r))
				}
			}
		}
	}
	bySys := map[[2]string][]Run{}
	if s.syscallRuns() {
		for _, t := range rbTests {
			n := rbRequests(t, s.opt.quick)
			for _, tg := range s.targets {
				ep := tg.eps[famRedis]
				if ep.skip() || !s.syscallRuns() {
					continue
				}
				r := Run{Load: t.name(), Target: tg.Name, CPUus: math.NaN(), Syscalls: math.NaN(), SyscallRun: true, Requests: int64(n)}
				m, err := s.measure(ep, rbArgs(s.opt.redisBenchmark, ep.port, t, n), true)
				if s.ctx.Err() != nil {
					return s.ctx.Err()
				}
				if err != nil {
					r.Err = fmt.Sprintf("%v: %s", err, tail(m.out))
				} else if _, perr := parseRBCSV(m.out); perr != nil {
					r.Err = perr.Error()
				} else {
					m.setSyscalls(&r)
				}
				s.rbRuns = append(s.rbRuns, r)
				k := [2]string{r.Load, r.Target}
				bySys[k] = append(bySys[k], r)
				if r.Err != "" {
					s.logf("%s syscalls %s: error: %s", r.Load, r.Target, r.Err)
				} else {
					s.logf("%s syscalls %-16s %s/req%s", r.Load, r.Target, fmtSys(r.Syscalls), breakdownLog(r))
				}
			}
		}
	}
	for k, rs := range byKey {
		a := aggregate(rs)
		if len(bySys) > 0 {
			a.addSyscalls(bySys[k])
		}
		s.rbRes.set(k[0], k[1], a)
	}
	return nil
}

// rbTable renders the redis-benchmark section: ops/s per target, then
// nutcracker's and each ferry's CPU µs/req and syscalls/req, and ferry's
// ratios against nutcracker.
func rbTable(res Results, targets []string, ferries []string, nc string) string {
	var b strings.Builder
	hdr := []string{"test"}
	for _, t := range targets {
		hdr = append(hdr, t+" ops/s", t+" p99 µs")
	}
	hdr = append(hdr, nc+" CPU µs/req", nc+" syscalls/req")
	for _, f := range ferries {
		hdr = append(hdr, f+" CPU µs/req", f+"/nc CPU", f+"/nc ops/s", f+" syscalls/req", f+"/nc syscalls")
	}
	writeHeader(&b, hdr)
	for _, t := range rbTests {
		row := []string{t.name()}
		for _, tg := range targets {
			a, ok := res.get(t.name(), tg)
			row = append(row, cell(a, ok, opsOf), cell(a, ok, p99Of))
		}
		n, nok := res.get(t.name(), nc)
		row = append(row, cell(n, nok, cpuOf), cell(n, nok, sysOf))
		for _, f := range ferries {
			a, ok := res.get(t.name(), f)
			row = append(row, cell(a, ok, cpuOf),
				fmtRatio(ratio(val(a, ok, aCPU), val(n, nok, aCPU))),
				fmtRatio(ratio(val(a, ok, aOps), val(n, nok, aOps))),
				cell(a, ok, sysOf),
				fmtRatio(ratio(val(a, ok, aSys), val(n, nok, aSys))))
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return b.String()
}
