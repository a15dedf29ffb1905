package main

// Measuring one run: ferry-bench's result, the proxy's CPU, RSS and
// system calls.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// benchResult is the part of ferry-bench's --json output the suite uses.
type benchResult struct {
	DurationS float64 `json:"duration_s"`
	Totals    struct {
		Ops       int64   `json:"ops"`
		OpsPerSec float64 `json:"ops_per_sec"`
		Errors    int64   `json:"errors"`
		Latency   struct {
			P99 float64 `json:"p99"`
		} `json:"latency_us"`
	} `json:"totals"`
}

func parseBenchJSON(b []byte) (*benchResult, error) {
	var r benchResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("ferry-bench json: %w", err)
	}
	return &r, nil
}

// sampleRSS records the largest VmRSS of pid until stop is closed.
func sampleRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := procRSSKiB(pid); err == nil && kb > peak {
				peak = kb
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// measurement is what measure saw of the proxy (or backend) during a run.
type measurement struct {
	cpuSec float64
	rssKiB int64
	out    []byte
	sys    *sysCount // nil when not counted
	sysOf  string    // the process counted
	sysErr string    // why not, when perf failed
}

// setSyscalls fills in a run's syscalls per request.
func (m measurement) setSyscalls(r *Run) {
	r.SyscallsOf, r.SyscallsErr = m.sysOf, m.sysErr
	if m.sys != nil {
		r.Syscalls, r.SyscallsByCall = m.sys.perRequest(r.Requests)
	}
}

// measure runs a load generator command against a target, sampling the
// proxy's CPU before and after and its RSS during the run, and counting
// the system calls of the proxy (of the backend for direct access) over
// the run when perf can.
func (s *suite) measure(ep *endpoint, argv []string, countSyscalls bool) (measurement, error) {
	var m measurement
	var cpu0 float64
	var stop chan struct{}
	var rss <-chan int64
	var err error
	for fam, b := range s.backends {
		if b.exited() {
			return m, fmt.Errorf("the %s backend (%s) has exited: %s", fam, b.name, b.logTail(2))
		}
	}
	if ep.proc != nil && ep.proc.exited() {
		return m, fmt.Errorf("proxy exited: %s", ep.proc.logTail(2))
	}
	var win *sysWindow
	if c := ep.counted(); c != nil && countSyscalls && s.sys.available() {
		m.sysOf = c.name
		win, err = s.sys.startWindow(c.pid(), filepath.Join(s.dir, "perf-stat.csv"))
		if err != nil {
			m.sysErr = err.Error()
			s.sys.failed(err)
			s.logf("warning: syscalls of %s not counted: %v", c.name, err)
		}
	}
	if ep.proc != nil {
		if cpu0, err = procCPUSeconds(ep.proc.pid()); err != nil {
			if win != nil {
				win.kill()
			}
			return m, err
		}
		stop = make(chan struct{})
		rss = sampleRSS(ep.proc.pid(), stop)
	}
	// A load generator whose server dies mid-run may wait forever
	// (redis-benchmark does): bound every run.
	ctx, cancel := context.WithTimeout(s.ctx, 3*s.opt.duration+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = childAttr()
	m.out, err = cmd.CombinedOutput()
	if ctx.Err() == context.DeadlineExceeded && s.ctx.Err() == nil {
		err = fmt.Errorf("killed after %v: %v", 3*s.opt.duration+60*time.Second, err)
	}
	if ep.proc != nil {
		cpu1, cerr := procCPUSeconds(ep.proc.pid())
		close(stop)
		m.rssKiB = <-rss
		if cerr != nil && err == nil {
			err = cerr
		}
		m.cpuSec = cpu1 - cpu0
	}
	if win != nil {
		c, serr := win.stop()
		if serr != nil {
			m.sysErr = serr.Error()
			s.sys.failed(serr)
			s.logf("warning: syscalls of %s not counted: %v", m.sysOf, serr)
		} else {
			m.sys = &c
		}
	}
	if s.ctx.Err() != nil {
		return measurement{}, s.ctx.Err()
	}
	return m, err
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

// sysLog is a measured run's syscalls for the progress log, when counted.
func sysLog(r Run) string {
	if math.IsNaN(r.Syscalls) {
		return ""
	}
	return "  syscalls " + fmtSys(r.Syscalls) + "/req"
}

// breakdownLog is a run's syscalls by group, for the progress log.
func breakdownLog(r Run) string {
	if math.IsNaN(r.Syscalls) || len(r.SyscallsByCall) == 0 {
		return ""
	}
	g := sysGroupValues(r.Syscalls, r.SyscallsByCall)
	var parts []string
	for _, n := range sysGroupNames() {
		if v := g[n]; !math.IsNaN(v) && v >= 0.005 {
			parts = append(parts, n+" "+fmtSys(v))
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// runOne runs load l against one target for secs seconds; countSyscalls
// attaches perf stat to the proxy (the backend for direct) over the run.
func (s *suite) runOne(l Load, t *Target, ep *endpoint, rep, secs int, countSyscalls bool) (Run, error) {
	js := filepath.Join(s.dir, "run.json")
	os.Remove(js)
	argv := append([]string{s.opt.bench}, benchArgs(l, ep.port, secs, t.Name, js)...)
	r := Run{Load: l.Name, Target: t.Name, Rep: rep, CPUus: math.NaN(), Syscalls: math.NaN()}
	m, err := s.measure(ep, argv, countSyscalls)
	if s.ctx.Err() != nil {
		return r, s.ctx.Err()
	}
	if err != nil {
		r.Err = fmt.Sprintf("%v: %s", err, tail(m.out))
		return r, nil
	}
	b, err := os.ReadFile(js)
	if err != nil {
		r.Err = err.Error()
		return r, nil
	}
	br, err := parseBenchJSON(b)
	if err != nil {
		r.Err = err.Error()
		return r, nil
	}
	r.OpsSec, r.Requests, r.P99us, r.RSSMaxKiB = br.Totals.OpsPerSec, br.Totals.Ops, br.Totals.Latency.P99, m.rssKiB
	if ep.proc != nil && r.Requests > 0 {
		r.CPUus = m.cpuSec * 1e6 / float64(r.Requests)
	}
	m.setSyscalls(&r)
	if br.Totals.Errors > 0 {
		r.Err = fmt.Sprintf("%d error replies", br.Totals.Errors)
	}
	return r, nil
}
