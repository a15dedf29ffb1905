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
	port int
	proc *child // the proxy process; nil for direct
	na   string // why the target does not serve this family
	fail string // why the proxy failed to start (not a refusal of the protocol)
}

// skip reports whether runs against the endpoint are impossible.
func (ep *endpoint) skip() bool { return ep == nil || ep.na != "" || ep.fail != "" }

// refusal reports whether a proxy's exit message says it does not serve the
// configuration (as opposed to failing to start for another reason).
var refusal = regexp.MustCompile(`(?i)not (served|supported)|unsupported|unknown (protocol|key)|invalid|syntax|configuration`)

// Target is direct backend access, one nutcracker, or one ferry setting.
type Target struct {
	Name string
	Kind string // "direct", "nutcracker", "ferry"
	Desc string // command line, for the report
	eps  map[string]*endpoint
	// argv is the proxy's command line for a config file; tag names its log.
	argv func(conf, tag string) []string
}

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
		s.configs[fam] = poolConfig(fam, 0, s.bport[fam])
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
		direct.eps[fam] = &endpoint{port: s.bport[fam]}
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
			ep, err := s.startProxy(name, fam, t.argv)
			if err != nil {
				return err
			}
			t.eps[fam] = ep
		}
		s.targets = append(s.targets, t)
	}
	for _, n := range threads {
		name := "ferry-t" + strconv.Itoa(n)
		t := &Target{Name: name, Kind: "ferry", eps: map[string]*endpoint{},
			Desc: fmt.Sprintf("%s -c CONF --threads %d -v 4 --admin 127.0.0.1:FREE_PORT -s FREE_PORT -a 127.0.0.1 (the last two when this ferry has them)", s.opt.ferry, n),
			argv: func(conf, _ string) []string {
				return append([]string{s.opt.ferry, "-c", conf, "--threads", strconv.Itoa(n), "-v", "4"}, s.ferryPorts()...)
			}}
		for _, fam := range fams {
			ep, err := s.startProxy(name, fam, t.argv)
			if err != nil {
				return err
			}
			t.eps[fam] = ep
		}
		s.targets = append(s.targets, t)
	}
	return nil
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

// startProxy writes the family's pool config with a fresh listen port and
// starts a proxy on it. A proxy that exits (refuses the config) gives an
// n/a endpoint, not an error.
func (s *suite) startProxy(name, fam string, argv func(conf, tag string) []string) (*endpoint, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(s.dir, name+"-"+fam+".yml")
	if err := os.WriteFile(conf, []byte(poolConfig(fam, port, s.bport[fam])), 0o644); err != nil {
		return nil, err
	}
	c, err := s.kids.start(name+"-"+fam, argv(conf, name+"-"+fam)...)
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

// estimate is the expected wall time of the whole suite. The per-run
// overhead (process start, connection set-up, JSON) is about 0.4 s; the
// redis-benchmark and memory sections are sized to take about a minute.
func (s *suite) estimate() time.Duration {
	per := s.opt.duration + 150*time.Millisecond
	est := time.Duration(s.plannedRuns()) * per
	if !s.opt.noRedisBenchmark && s.sectionSelected("redis-benchmark") {
		est += time.Duration(len(s.targets)*len(rbTests)*s.opt.reps) * 1500 * time.Millisecond
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

// measure runs a load generator command against a target, sampling the
// proxy's CPU before and after and its RSS during the run.
func (s *suite) measure(ep *endpoint, argv []string) (cpuSec float64, rssKiB int64, out []byte, err error) {
	var cpu0 float64
	var stop chan struct{}
	var rss <-chan int64
	for fam, b := range s.backends {
		if b.exited() {
			return 0, 0, nil, fmt.Errorf("the %s backend (%s) has exited: %s", fam, b.name, b.logTail(2))
		}
	}
	if ep.proc != nil {
		if ep.proc.exited() {
			return 0, 0, nil, fmt.Errorf("proxy exited: %s", ep.proc.logTail(2))
		}
		if cpu0, err = procCPUSeconds(ep.proc.pid()); err != nil {
			return 0, 0, nil, err
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
	out, err = cmd.CombinedOutput()
	if ctx.Err() == context.DeadlineExceeded && s.ctx.Err() == nil {
		err = fmt.Errorf("killed after %v: %v", 3*s.opt.duration+60*time.Second, err)
	}
	if ep.proc != nil {
		cpu1, cerr := procCPUSeconds(ep.proc.pid())
		close(stop)
		rssKiB = <-rss
		if cerr != nil && err == nil {
			err = cerr
		}
		cpuSec = cpu1 - cpu0
	}
	if s.ctx.Err() != nil {
		return 0, 0, nil, s.ctx.Err()
	}
	return cpuSec, rssKiB, out, err
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
	_, _, out, err := s.measure(&endpoint{}, argv)
	if err != nil {
		return fmt.Errorf("prefill %s: %v: %s", l.Prefix, err, tail(out))
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
	total := s.plannedRuns()
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
				s.res.set(l.Name, t.Name, Agg{Err: ep.fail})
			}
		}
		for rep := 1; rep <= s.opt.reps; rep++ {
			for _, t := range s.targets {
				ep := t.eps[l.Family]
				if ep.skip() {
					continue
				}
				r, err := s.runOne(l, t, ep, rep, secs)
				if err != nil {
					return err
				}
				s.done++
				s.runs = append(s.runs, r)
				byTarget[t.Name] = append(byTarget[t.Name], r)
				if r.Err != "" {
					s.logf("[%d/%d] %s rep %d %s: error: %s", s.done, total, l.Name, rep, t.Name, r.Err)
				} else {
					s.logf("[%d/%d] %s rep %d %-10s %9s ops/s  p99 %7s µs  cpu %s µs/req",
						s.done, total, l.Name, rep, t.Name, fmtOps(r.OpsSec), fmtUs(r.P99us), fmtUs(r.CPUus))
				}
			}
		}
		for name, rs := range byTarget {
			s.res.set(l.Name, name, aggregate(rs))
		}
	}
	return nil
}

func (s *suite) runOne(l Load, t *Target, ep *endpoint, rep, secs int) (Run, error) {
	js := filepath.Join(s.dir, "run.json")
	os.Remove(js)
	argv := append([]string{s.opt.bench}, benchArgs(l, ep.port, secs, t.Name, js)...)
	r := Run{Load: l.Name, Target: t.Name, Rep: rep, CPUus: math.NaN()}
	cpu, rss, out, err := s.measure(ep, argv)
	if s.ctx.Err() != nil {
		return r, s.ctx.Err()
	}
	if err != nil {
		r.Err = fmt.Sprintf("%v: %s", err, tail(out))
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
	r.OpsSec, r.Requests, r.P99us, r.RSSMaxKiB = br.Totals.OpsPerSec, br.Totals.Ops, br.Totals.Latency.P99, rss
	if ep.proc != nil && r.Requests > 0 {
		r.CPUus = cpu * 1e6 / float64(r.Requests)
	}
	if br.Totals.Errors > 0 {
		r.Err = fmt.Sprintf("%d error replies", br.Totals.Errors)
	}
	return r, nil
}

// ferryTargets and ncTargets name the targets of a kind, in order.
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
