package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// System calls per request come from perf stat counting syscall
// tracepoints of one process (the proxy, or for direct runs the backend)
// for the measured window only: perf starts with its counters disabled
// (-D -1) and the suite enables them just before the load generator starts
// and disables them just after it ends, through perf's --control pipes.

// totalEvent counts every system call; the per-call events break it down.
const totalEvent = "raw_syscalls:sys_enter"

// sysGroups are the breakdown columns of the report. Calls not listed here
// are reported together as "other" (total minus the listed calls).
var sysGroups = []struct {
	Name  string
	Calls []string
}{
	{"read", []string{"read", "readv", "recvfrom", "recvmsg"}},
	{"write(v)", []string{"write", "writev", "sendto", "sendmsg"}},
	{"epoll_wait", []string{"epoll_wait", "epoll_pwait", "epoll_pwait2"}},
	{"epoll_ctl", []string{"epoll_ctl"}},
	{"futex", []string{"futex"}},
	{"sleep/yield", []string{"nanosleep", "clock_nanosleep", "sched_yield"}},
}

// sysOther is the name of the remainder column.
const sysOther = "other"

// sysGroupNames lists the breakdown columns in order, "other" last.
func sysGroupNames() []string {
	out := make([]string, 0, len(sysGroups)+1)
	for _, g := range sysGroups {
		out = append(out, g.Name)
	}
	return append(out, sysOther)
}

func callEvent(call string) string { return "syscalls:sys_enter_" + call }

// allCalls lists the system calls counted one by one, in sysGroups order.
func allCalls() []string {
	var out []string
	for _, g := range sysGroups {
		out = append(out, g.Calls...)
	}
	return out
}

// perfValue is one counter of perf stat -x, output; NotCounted is perf's
// "<not counted>" (the task never ran while the counter was enabled).
type perfValue struct {
	Count      float64
	NotCounted bool
}

// parsePerfCSV reads the output of perf stat -x, (the file given to -o):
// comment lines start with '#'; each counter line is
// value,unit,event,run-time,percentage,metric-value,metric-unit where value
// may be "<not counted>" or "<not supported>" (left out of the result).
func parsePerfCSV(b []byte) (map[string]perfValue, error) {
	out := map[string]perfValue{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := csv.NewReader(strings.NewReader(line))
		r.FieldsPerRecord = -1
		rec, err := r.Read()
		if err != nil || len(rec) < 3 {
			continue // a message perf mixed in ("Events enabled")
		}
		ev := strings.TrimSpace(rec[2])
		if !strings.Contains(ev, ":") {
			continue
		}
		v := strings.TrimSpace(rec[0])
		switch v {
		case "<not counted>":
			out[ev] = perfValue{NotCounted: true}
			continue
		case "<not supported>":
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("perf stat: count %q of %s", v, ev)
		}
		out[ev] = perfValue{Count: n}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("perf stat: no counters in %q", tail(b))
	}
	return out, nil
}

// sysCount is what one measured window counted.
type sysCount struct {
	Total  float64
	ByCall map[string]float64 // by system call name ("read", "writev", ...)
}

// sysCountOf picks the total and the per-call counts out of parsed perf
// output. The total must be there.
func sysCountOf(vals map[string]perfValue) (sysCount, error) {
	t, ok := vals[totalEvent]
	if !ok {
		return sysCount{}, fmt.Errorf("perf stat: no %s count", totalEvent)
	}
	c := sysCount{Total: t.Count, ByCall: map[string]float64{}}
	for _, call := range allCalls() {
		if v, ok := vals[callEvent(call)]; ok {
			c.ByCall[call] = v.Count
		}
	}
	return c, nil
}

// perRequest divides a window's counts by the requests completed in it.
func (c sysCount) perRequest(reqs int64) (float64, map[string]float64) {
	if reqs <= 0 {
		return math.NaN(), nil
	}
	by := make(map[string]float64, len(c.ByCall))
	for k, v := range c.ByCall {
		by[k] = v / float64(reqs)
	}
	return c.Total / float64(reqs), by
}

// sysGroupValues sums per-call values into the breakdown columns; "other"
// is total minus every listed call. Calls perf could not count are missing
// from byCall, and so are their groups (NaN).
func sysGroupValues(total float64, byCall map[string]float64) map[string]float64 {
	out := map[string]float64{}
	known := 0.0
	for _, g := range sysGroups {
		sum, any := 0.0, false
		for _, c := range g.Calls {
			if v, ok := byCall[c]; ok {
				sum += v
				any = true
			}
		}
		if any {
			out[g.Name] = sum
			known += sum
		} else {
			out[g.Name] = math.NaN()
		}
	}
	if len(byCall) > 0 {
		out[sysOther] = math.Max(0, total-known)
	} else {
		out[sysOther] = math.NaN()
	}
	return out
}

// sysCounter counts the system calls of a process with perf stat.
type sysCounter struct {
	perf   string
	events []string // totalEvent first, then the per-call events perf accepts
	na     string   // why nothing is counted ("" when counting)

	mu    sync.Mutex
	fails int
}

// available reports whether runs count system calls.
func (sc *sysCounter) available() bool {
	if sc == nil {
		return false
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.na == ""
}

func (sc *sysCounter) reason() string {
	if sc == nil {
		return "not counted"
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.na
}

// failed records a window that could not be counted; after three the
// counter gives up, so a perf that cannot attach does not slow every run.
func (sc *sysCounter) failed(err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.fails++
	if sc.fails >= 3 && sc.na == "" {
		sc.na = "perf stat failed 3 times, the last: " + err.Error()
	}
}

// tracingState describes where the syscall tracepoints are, for messages.
func tracingState() string {
	var parts []string
	found := false
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "events", "raw_syscalls", "sys_enter")); err == nil {
			found = true
			parts = append(parts, d+"/events/raw_syscalls present")
		}
	}
	if !found {
		parts = append(parts, "no syscall tracepoints under /sys/kernel/tracing or /sys/kernel/debug/tracing (tracefs not mounted, or a kernel without CONFIG_FTRACE_SYSCALLS)")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/perf_event_paranoid"); err == nil {
		parts = append(parts, "perf_event_paranoid "+strings.TrimSpace(string(b)))
	}
	parts = append(parts, "euid "+strconv.Itoa(os.Geteuid()))
	return strings.Join(parts, ", ")
}

// newSysCounter checks that perf can count syscall tracepoints here, and
// which per-call tracepoints exist. It returns a counter whose na says why
// when it cannot count (perf missing, no tracepoints, not permitted).
func newSysCounter(ctx context.Context, perf string) *sysCounter {
	sc := &sysCounter{perf: perf}
	if perf == "" {
		sc.na = "not counted (--no-syscalls)"
		return sc
	}
	p, err := exec.LookPath(perf)
	if err != nil {
		sc.na = "perf not installed (Debian: apt-get install linux-perf)"
		return sc
	}
	sc.perf = p
	probe := func(events []string) error {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, p, "stat", "-x,", "-e", strings.Join(events, ","), "--", "true").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, tail(out))
		}
		vals, err := parsePerfCSV(out)
		if err != nil {
			return err
		}
		if _, ok := vals[totalEvent]; !ok {
			return fmt.Errorf("perf stat counted no %s: %s", totalEvent, tail(out))
		}
		return nil
	}
	if err := probe([]string{totalEvent}); err != nil {
		sc.na = fmt.Sprintf("perf cannot count %s (%s): %v", totalEvent, tracingState(), err)
		return sc
	}
	sc.events = []string{totalEvent}
	var calls []string
	for _, c := range allCalls() {
		calls = append(calls, callEvent(c))
	}
	if probe(append([]string{totalEvent}, calls...)) == nil {
		sc.events = append(sc.events, calls...)
		return sc
	}
	// Some per-call tracepoint is missing on this kernel (epoll_pwait2 is
	// 5.11+): keep the ones perf accepts one by one.
	for _, ev := range calls {
		if probe([]string{totalEvent, ev}) == nil {
			sc.events = append(sc.events, ev)
		}
	}
	return sc
}

// sysWindow is one perf stat attached to a process, its counters enabled.
type sysWindow struct {
	cmd    *exec.Cmd
	ctl    *os.File // perf reads "enable"/"disable" here (its fd 3)
	ack    *os.File // and answers "ack" here (its fd 4)
	out    string
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

// startWindow attaches perf stat to pid and enables its counters; the
// window runs until stop.
func (sc *sysCounter) startWindow(pid int, outPath string) (*sysWindow, error) {
	if !sc.available() {
		return nil, fmt.Errorf("%s", sc.reason())
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	os.Remove(outPath)
	w := &sysWindow{ctl: ctlW, ack: ackR, out: outPath, done: make(chan struct{})}
	w.cmd = exec.Command(sc.perf, "stat", "-x,", "-o", outPath, "--control", "fd:3,4", "-D", "-1",
		"-e", strings.Join(sc.events, ","), "-p", strconv.Itoa(pid))
	w.cmd.ExtraFiles = []*os.File{ctlR, ackW}
	w.cmd.Stdout, w.cmd.Stderr = &w.stderr, &w.stderr
	w.cmd.SysProcAttr = childAttr()
	err = w.cmd.Start()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		ctlW.Close()
		ackR.Close()
		return nil, fmt.Errorf("perf stat: %w", err)
	}
	go func() { w.err = w.cmd.Wait(); close(w.done) }()
	if err := w.command("enable"); err != nil {
		w.kill()
		return nil, fmt.Errorf("perf stat -p %d: %v: %s", pid, err, tail(w.stderr.Bytes()))
	}
	return w, nil
}

// command sends a --control command and waits for perf's ack.
func (w *sysWindow) command(c string) error {
	if _, err := io.WriteString(w.ctl, c+"\n"); err != nil {
		return err
	}
	_ = w.ack.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	n, err := w.ack.Read(buf)
	if err != nil {
		return fmt.Errorf("no ack to %q: %w", c, err)
	}
	if !strings.HasPrefix(string(buf[:n]), "ack") {
		return fmt.Errorf("perf answered %q to %q", buf[:n], c)
	}
	return nil
}

func (w *sysWindow) kill() {
	_ = w.cmd.Process.Kill()
	<-w.done
	w.ctl.Close()
	w.ack.Close()
}

// stop disables the counters, ends perf and returns what it counted.
func (w *sysWindow) stop() (sysCount, error) {
	// Without perf's ack to "disable" the counts run on until it exits, a
	// few milliseconds later: still usable.
	_ = w.command("disable")
	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	w.ctl.Close()
	w.ack.Close()
	b, err := os.ReadFile(w.out)
	if err != nil {
		return sysCount{}, fmt.Errorf("perf stat: %v (%v): %s", err, w.err, tail(w.stderr.Bytes()))
	}
	vals, err := parsePerfCSV(b)
	if err != nil {
		return sysCount{}, err
	}
	return sysCountOf(vals)
}
