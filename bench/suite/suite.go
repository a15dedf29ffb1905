package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// endpoint is where a target serves one protocol family.
type endpoint struct {
	port    int
	proc    *child // the proxy process; nil for direct
	backend *child // for direct: the backend server, whose syscalls are counted
	na      string // why the target does not serve this family
	fail    string // why the proxy failed to start (not a refusal of the protocol)
}

// counted is the process whose system calls a run against ep counts: the
// proxy, or for direct access the backend; nil for none.
func (ep *endpoint) counted() *child {
	if ep.proc != nil {
		return ep.proc
	}
	return ep.backend
}

// skip reports whether runs against the endpoint are impossible.
func (ep *endpoint) skip() bool { return ep == nil || ep.na != "" || ep.fail != "" }

// refusal reports whether a proxy's exit message says it does not serve the
// configuration (as opposed to failing to start for another reason).
var refusal = regexp.MustCompile(`(?i)not (served|supported)|unsupported|unknown (protocol|key)|invalid|syntax|configuration`)

// Target is direct backend access, one nutcracker, or one ferry setting.
type Target struct {
	Name  string
	Kind  string // "direct", "nutcracker", "ferry"
	Desc  string // command line, for the report
	Label string // for tables where it differs from Name
	// Threads is ferry's --threads; Scope its pools' server_connections_scope
	// ("" leaves the key out: connections per event loop).
	Threads int
	Scope   string
	// base is the per-loop target a hand-off variant is compared with.
	base *Target
	eps  map[string]*endpoint
	// argv is the proxy's command line for a config file; tag names its log.
	argv func(conf, tag string) []string
}

func (t Target) label() string {
	if t.Label != "" {
		return t.Label
	}
	return t.Name
}

// handoffName names the hand-off variant: --threads 2, and with
// server_connections: 1 and server_connections_scope: process one loop
// owns the server's connection and the other hands its requests over.
const (
	handoffName    = "ferry-t2-handoff"
	handoffLabel   = "ferry t2 hand-off (1 conn/server)"
	handoffThreads = 2
	handoffScope   = "process"
)

type suite struct {
	opt    *options
	ctx    context.Context
	start  time.Time
	dir    string
	kids   *children
	nofile uint64

	loads     []Load
	backends  map[string]*child // by family
	bport     map[string]int    // backend port by family
	targets   []*Target
	configs   map[string]string // family -> pool config (with placeholder listen)
	versions  []string
	ferryHelp string

	runs     []Run
	res      Results
	done     int
	prefills map[string]bool

	rbRuns []Run
	rbRes  Results
	rss    []rssRow

	sys *sysCounter
}

func (s *suite) logf(format string, a ...any) {
	el := time.Since(s.start).Round(time.Second)
	fmt.Fprintf(os.Stderr, "[%s] %s\n", el, fmt.Sprintf(format, a...))
}

// sectionSelected reports whether --only selects a report section.
func (s *suite) sectionSelected(name string) bool {
	if s.opt.only == "" {
		return true
	}
	r, err := regexp.Compile(s.opt.only)
	return err == nil && r.MatchString(name)
}

func (s *suite) checkTools() error {
	need := []string{s.opt.ferry, s.opt.nutcracker, s.opt.bench, s.opt.redisServer, s.opt.memcached}
	if !s.opt.noRedisBenchmark {
		need = append(need, s.opt.redisBenchmark)
	}
	for _, t := range need {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s not found (scripts/bench.sh builds ferry and installs the others): %w", t, err)
		}
	}
	return nil
}

// families in use by the selected loads (redis always, for the
// redis-benchmark and memory sections).
func (s *suite) usedFamilies() []string {
	used := map[string]bool{famRedis: true}
	for _, l := range s.loads {
		used[l.Family] = true
	}
	var out []string
	for _, f := range families {
		if used[f] {
			out = append(out, f)
		}
	}
	return out
}

// setup starts the backends and every proxy process.
func (s *suite) setup(threads []int) error {
	s.backends, s.bport, s.configs = map[string]*child{}, map[string]int{}, map[string]string{}
	s.res, s.rbRes, s.prefills = Results{}, Results{}, map[string]bool{}
	fams := s.usedFamilies()

	// Backends: one redis-server; one memcached shared by both memcache families.
	for _, fam := range fams {
		if fam == famBinary && s.bport[famMemcache] != 0 {
			s.bport[famBinary] = s.bport[famMemcache]
			continue
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		var c *child
		if fam == famRedis {
			c, err = s.kids.start("redis-server", s.opt.redisServer, "--port", strconv.Itoa(port),
				"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
				"--maxclients", "20000", "--protected-mode", "no")
		} else {
			argv := []string{s.opt.memcached, "-l", "127.0.0.1", "-p", strconv.Itoa(port),
				"-U", "0", "-m", "256", "-t", "2", "-c", "20000"}
			if os.Geteuid() == 0 {
				argv = append(argv, "-u", "root") // memcached refuses root without -u
			}
			c, err = s.kids.start("memcached", argv...)
		}
		if err != nil {
			return err
		}
		if err := waitListening(c, port, 5*time.Second); err != nil {
			return fmt.Errorf("%s did not start: %v: %s", c.name, err, c.logTail(3))
		}
		s.bport[fam] = port
		if fam == famMemcache {
			s.bport[famBinary] = port
		}
		s.backends[fam] = c
		s.logf("backend %s on 127.0.0.1:%d (pid %d)", c.name, port, c.pid())
	}
	for _, fam := range fams {
		s.configs[fam] = poolConfig(fam, 0, s.bport[fam], "")
	}
	s.versions = []string{
		"ferry: " + versionOf(s.opt.ferry, "--version"),
		"nutcracker: " + versionOf(s.opt.nutcracker, "-V"),
		"redis-server: " + versionOf(s.opt.redisServer, "--version"),
		"memcached: " + versionOf(s.opt.memcached, "-V"),
	}
	if !s.opt.noRedisBenchmark {
		s.versions = append(s.versions, "redis-benchmark: "+versionOf(s.opt.redisBenchmark, "--version"))
	}

	direct := &Target{Name: "direct", Kind: "direct", Desc: "the backend itself", eps: map[string]*endpoint{}}
	for _, fam := range fams {
		b := s.backends[fam]
		if b == nil {
			b = s.backends[famMemcache] // memcache binary shares memcached
		}
		direct.eps[fam] = &endpoint{port: s.bport[fam], backend: b}
	}
	s.targets = append(s.targets, direct)

	ncVerb := []int{4}
	if s.opt.ncV5 {
		ncVerb = append(ncVerb, 5)
	}
	for i, v := range ncVerb {
		name := "nutcracker"
		if i > 0 {
			name = "nc-v" + strconv.Itoa(v)
		}
		t := &Target{Name: name, Kind: "nutcracker", eps: map[string]*endpoint{},
			Desc: fmt.Sprintf("%s -c CONF -v %d -s STATS_PORT -a 127.0.0.1 -o LOGFILE", s.opt.nutcracker, v),
			argv: func(conf, tag string) []string {
				stats, _ := freePort()
				return []string{s.opt.nutcracker, "-c", conf, "-v", strconv.Itoa(v),
					"-s", strconv.Itoa(stats), "-a", "127.0.0.1", "-o", filepath.Join(s.dir, tag+".nclog")}
			}}
		for _, fam := range fams {
			if fam == famBinary {
				t.eps[fam] = &endpoint{na: "nutcracker speaks no memcache binary protocol"}
				continue
			}
			ep, err := s.startProxy(t, name, fam)
			if err != nil {
				return err
			}
			t.eps[fam] = ep
		}
		s.targets = append(s.targets, t)
	}
	for _, t := range ferryTargets(threads, !s.opt.noHandoff) {
		s.ferryArgv(t)
		for _, fam := range fams {
			ep, err := s.startProxy(t, t.Name, fam)
			if err != nil {
				return err
			}
			t.eps[fam] = ep
			variantRefusal(t, fam)
		}
		s.targets = append(s.targets, t)
	}
	return nil
}

// variantRefusal turns a variant's refusal of the family's config into a
// failure when its per-loop twin serves the family: the hand-off variant
// refusing server_connections_scope (a ferry that predates the key) is a
// failed row with ferry's message, not a protocol ferry does not serve.
func variantRefusal(t *Target, fam string) {
	ep := t.eps[fam]
	if t.base == nil || ep == nil || ep.na == "" || t.base.eps[fam].skip() {
		return
	}
	ep.fail, ep.na = ep.na, ""
}

// ferryTargets lists the ferry settings to measure: one per --threads entry,
// connections per event loop, then (with handoff) the hand-off variant,
// preceded by a per-loop target of the same --threads when the list has
// none.
func ferryTargets(threads []int, handoff bool) []*Target {
	var out []*Target
	var perLoop *Target
	add := func(n int) *Target {
		t := &Target{Name: "ferry-t" + strconv.Itoa(n), Kind: "ferry", Threads: n}
		out = append(out, t)
		if n == handoffThreads {
			perLoop = t
		}
		return t
	}
	for _, n := range threads {
		add(n)
	}
	if handoff {
		if perLoop == nil {
			add(handoffThreads)
		}
		out = append(out, &Target{Name: handoffName, Label: handoffLabel, Kind: "ferry",
			Threads: handoffThreads, Scope: handoffScope, base: perLoop})
	}
	return out
}

// ferryArgv fills in a ferry target's command line and description.
func (s *suite) ferryArgv(t *Target) {
	t.eps = map[string]*endpoint{}
	n := strconv.Itoa(t.Threads)
	t.Desc = fmt.Sprintf("%s -c CONF --threads %s -v 4 --admin 127.0.0.1:FREE_PORT -s FREE_PORT -a 127.0.0.1 (the last two when this ferry has them)", s.opt.ferry, n)
	if t.Scope != "" {
		t.Desc += "; the pool config adds server_connections_scope: " + t.Scope
	}
	t.argv = func(conf, _ string) []string {
		return append([]string{s.opt.ferry, "-c", conf, "--threads", n, "-v", "4"}, s.ferryPorts()...)
	}
}

// ferryPorts gives ferry free ports for the listeners it opens besides the
// pools (admin HTTP, twemproxy stats), as nutcracker gets -s; a ferry that
// predates those flags gets none.
func (s *suite) ferryPorts() []string {
	if s.ferryHelp == "" {
		out, _ := exec.Command(s.opt.ferry, "--help").CombinedOutput()
		s.ferryHelp = string(out) + " "
	}
	var a []string
	if strings.Contains(s.ferryHelp, "--admin") {
		p, _ := freePort()
		a = append(a, "--admin", "127.0.0.1:"+strconv.Itoa(p))
	}
	if strings.Contains(s.ferryHelp, "--stats-port") {
		p, _ := freePort()
		a = append(a, "-s", strconv.Itoa(p), "-a", "127.0.0.1")
	}
	return a
}

// startProxy writes the family's pool config (with t's connection scope)
// with a fresh listen port and starts t's proxy on it; name tags its files.
// A proxy that exits (refuses the config) gives an n/a endpoint, not an
// error.
func (s *suite) startProxy(t *Target, name, fam string) (*endpoint, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(s.dir, name+"-"+fam+".yml")
	if err := os.WriteFile(conf, []byte(poolConfig(fam, port, s.bport[fam], t.Scope)), 0o644); err != nil {
		return nil, err
	}
	c, err := s.kids.start(name+"-"+fam, t.argv(conf, name+"-"+fam)...)
	if err != nil {
		return nil, err
	}
	err = waitListening(c, port, 5*time.Second)
	if errors.Is(err, errExited) {
		why := c.logTail(2)
		if why == "" {
			why = fmt.Sprint(c.err)
		}
		if !refusal.MatchString(why) {
			s.logf("%s failed to start for the %s pool: %s", name, fam, why)
			return &endpoint{fail: name + " failed to start: " + why}, nil
		}
		s.logf("%s refuses the %s pool: %s", name, fam, why)
		return &endpoint{na: name + " refused the config: " + why}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %v: %s", name, fam, err, c.logTail(3))
	}
	s.logf("%s serves %s on 127.0.0.1:%d (pid %d)", name, fam, port, c.pid())
	return &endpoint{port: port, proc: c}, nil
}

func (s *suite) plannedRuns() int {
	n := 0
	for _, l := range s.loads {
		for _, t := range s.targets {
			if !t.eps[l.Family].skip() {
				n += s.opt.reps
			}
		}
	}
	return n
}

// syscallRuns reports whether system calls are counted in runs of their
// own (one per load and target, after its measured repetitions) rather
// than in the measured runs: perf's counting costs the counted process
// kernel time on every call, which would inflate CPU µs/req, the more the
// more calls a proxy makes.
func (s *suite) syscallRuns() bool { return s.sys.available() && !s.opt.syscallsInRuns }

// plannedSyscallRuns is the number of those runs.
func (s *suite) plannedSyscallRuns() int {
	if !s.syscallRuns() {
		return 0
	}
	return s.plannedRuns() / s.opt.reps
}

// estimate is the expected wall time of the whole suite. The per-run
// overhead (process start, connection set-up, JSON) is about 0.4 s; the
// redis-benchmark and memory sections are sized to take about a minute.
func (s *suite) estimate() time.Duration {
	per := s.opt.duration + 150*time.Millisecond
	if s.sys.available() && s.opt.syscallsInRuns {
		per += 100 * time.Millisecond // perf stat start and stop
	}
	est := time.Duration(s.plannedRuns()) * per
	est += time.Duration(s.plannedSyscallRuns()) * (s.opt.syscallDuration + 250*time.Millisecond)
	if !s.opt.noRedisBenchmark && s.sectionSelected("redis-benchmark") {
		n := s.opt.reps
		if s.syscallRuns() {
			n++
		}
		est += time.Duration(len(s.targets)*len(rbTests)*n) * 1500 * time.Millisecond
	}
	if !s.opt.noRSS && s.sectionSelected("rss idle connections") {
		est += time.Duration(len(s.targets)) * 6 * time.Second
	}
	return est
}

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

// prefill writes the key space of a GET load once, directly to the backend.
func (s *suite) prefill(l Load) error {
	key := fmt.Sprintf("%d/%s", s.bport[l.Family], l.Prefix)
	if s.prefills[key] {
		return nil
	}
	s.prefills[key] = true
	fam := l.Family
	if fam == famBinary {
		l.Family = famMemcache // same memcached; text sets are simpler
	}
	js := filepath.Join(s.dir, "prefill.json")
	argv := append([]string{s.opt.bench}, prefillArgs(l, s.bport[fam], js)...)
	m, err := s.measure(&endpoint{}, argv, false)
	if err != nil {
		return fmt.Errorf("prefill %s: %v: %s", l.Prefix, err, tail(m.out))
	}
	s.logf("prefilled keys %s0..%d with %d-byte values", l.Prefix, l.KeyMax, l.Size)
	return nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

// runLoads runs every load against every target, repetition by repetition
// (direct, nutcracker, ferry, direct, ...), so drift on a shared machine
// hits all targets alike.
func (s *suite) runLoads() error {
	total := s.plannedRuns() + s.plannedSyscallRuns()
	secs := int(s.opt.duration / time.Second)
	for _, l := range s.loads {
		if l.Gets {
			if err := s.prefill(l); err != nil {
				if s.ctx.Err() != nil {
					return s.ctx.Err()
				}
				s.logf("warning: %v", err)
			}
		}
		byTarget := map[string][]Run{}
		for _, t := range s.targets {
			if ep := t.eps[l.Family]; ep != nil && ep.na != "" {
				s.res.set(l.Name, t.Name, Agg{NA: ep.na})
			} else if ep != nil && ep.fail != "" {
				s.res.set(l.Name, t.Name, Agg{Err: ep.fail, StartFail: true})
			}
		}
		for rep := 1; rep <= s.opt.reps; rep++ {
			for _, t := range s.targets {
				ep := t.eps[l.Family]
				if ep.skip() {
					continue
				}
				r, err := s.runOne(l, t, ep, rep, secs, s.opt.syscallsInRuns)
				if err != nil {
					return err
				}
				s.done++
				s.runs = append(s.runs, r)
				byTarget[t.Name] = append(byTarget[t.Name], r)
				if r.Err != "" {
					s.logf("[%d/%d] %s rep %d %s: error: %s", s.done, total, l.Name, rep, t.Name, r.Err)
				} else {
					s.logf("[%d/%d] %s rep %d %-16s %9s ops/s  p99 %7s µs  cpu %s µs/req%s",
						s.done, total, l.Name, rep, t.Name, fmtOps(r.OpsSec), fmtUs(r.P99us), fmtUs(r.CPUus), sysLog(r))
				}
			}
		}
		bySys := map[string][]Run{}
		if s.syscallRuns() {
			for _, t := range s.targets {
				ep := t.eps[l.Family]
				if ep.skip() || !s.syscallRuns() {
					continue
				}
				r, err := s.runOne(l, t, ep, 0, int(s.opt.syscallDuration/time.Second), true)
				if err != nil {
					return err
				}
				r.SyscallRun = true
				s.done++
				s.runs = append(s.runs, r)
				bySys[t.Name] = append(bySys[t.Name], r)
				if r.Err != "" {
					s.logf("[%d/%d] %s syscalls %s: error: %s", s.done, total, l.Name, t.Name, r.Err)
				} else {
					s.logf("[%d/%d] %s syscalls %-16s %s/req%s", s.done, total, l.Name, t.Name, fmtSys(r.Syscalls), breakdownLog(r))
				}
			}
		}
		for name, rs := range byTarget {
			a := aggregate(rs)
			if len(bySys) > 0 {
				a.addSyscalls(bySys[name])
			}
			s.res.set(l.Name, name, a)
		}
	}
	return nil
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

// targetsOf names the targets of a kind, in order.
func (s *suite) targetsOf(kind string) []string {
	var out []string
	for _, t := range s.targets {
		if t.Kind == kind {
			out = append(out, t.Name)
		}
	}
	return out
}

// parallel runs f(i) for i in [0,n) on w goroutines.
func parallel(n, w int, f func(i int)) {
	var wg sync.WaitGroup
	ch := make(chan int)
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				f(i)
			}
		}()
	}
	for i := range n {
		ch <- i
	}
	close(ch)
	wg.Wait()
}
