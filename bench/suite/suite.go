package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// refusal reports whether a proxy's exit message says it does not serve the
// configuration (as opposed to failing to start for another reason).
var refusal = regexp.MustCompile(`(?i)not (served|supported)|unsupported|unknown (protocol|key)|invalid|syntax|configuration`)

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
