// Command ferry-suite compares ferry with nutcracker (twemproxy) and with
// direct backend access: it starts redis-server and memcached on loopback,
// serves the same pool configuration with nutcracker (-v 4) and with ferry
// (--threads 1 and all cores), drives the same ferry-bench loads against
// each target in turn, and writes a markdown report of ops/s, p99 latency,
// proxy CPU µs per request (utime+stime from /proc/PID/stat), and their
// ferry/nutcracker and ferry/direct ratios, and the system calls per
// request of each proxy (of the backend for direct access) counted by perf
// stat over each run, where perf can count syscall tracepoints. Besides the
// per-loop ferry settings it measures a hand-off variant: --threads 2 with
// server_connections_scope: process, one backend connection per server for
// the whole process. It also runs redis-benchmark and measures RSS per
// idle client connection. Run it through scripts/bench.sh (make bench).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	ferry, nutcracker, bench, redisServer, memcached, redisBenchmark string
	out                                                              string
	duration                                                         time.Duration
	reps                                                             int
	quick                                                            bool
	threads                                                          string
	only                                                             string
	ncV5, noRedisBenchmark, noRSS                                    bool
	noHandoff, noSyscalls, syscallsInRuns                            bool
	perf                                                             string
	syscallDuration                                                  time.Duration
	idleConns                                                        int
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ferry-suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ferry, "ferry", "bin/ferry", "ferry binary")
	fs.StringVar(&o.nutcracker, "nutcracker", "/usr/sbin/nutcracker", "nutcracker (twemproxy) binary")
	fs.StringVar(&o.bench, "bench", "bin/ferry-bench", "ferry-bench binary")
	fs.StringVar(&o.redisServer, "redis-server", "redis-server", "redis-server binary")
	fs.StringVar(&o.memcached, "memcached", "memcached", "memcached binary")
	fs.StringVar(&o.redisBenchmark, "redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	fs.StringVar(&o.out, "out", "bench/results/latest.md", "markdown report file (a .json of the raw runs is written beside it)")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of each ferry-bench run (whole seconds)")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of each load and target (medians are reported)")
	fs.BoolVar(&o.quick, "quick", false, "smoke test: 2 s runs, 1 repetition, small redis-benchmark and idle-connection counts")
	fs.StringVar(&o.threads, "threads", "1,all", "ferry --threads settings to measure, comma-separated; 'all' is the number of CPUs")
	fs.StringVar(&o.only, "only", "", "run only the loads whose name matches this regular expression")
	fs.BoolVar(&o.ncV5, "nc-v5", false, "also measure nutcracker at its default verbosity (-v 5) and report ferry's CPU ratio to it")
	fs.BoolVar(&o.noRedisBenchmark, "no-redis-benchmark", false, "skip the redis-benchmark section")
	fs.BoolVar(&o.noRSS, "no-rss", false, "skip the idle-connection memory section")
	fs.BoolVar(&o.noHandoff, "no-handoff", false, "skip the hand-off variant ("+handoffName+": --threads 2, server_connections: 1, server_connections_scope: process)")
	fs.BoolVar(&o.noSyscalls, "no-syscalls", false, "do not count system calls per request with perf stat")
	fs.StringVar(&o.perf, "perf", "perf", "perf binary, for system calls per request (n/a in the report when it cannot count syscall tracepoints)")
	fs.DurationVar(&o.syscallDuration, "syscall-duration", time.Second, "length of the extra run per load and target that counts system calls (whole seconds)")
	fs.BoolVar(&o.syscallsInRuns, "syscalls-in-runs", false, "count system calls in the measured runs instead of extra runs (shorter, but perf's counting inflates CPU µs/req); --quick sets it")
	fs.IntVar(&o.idleConns, "idle-conns", 10000, "idle client connections opened for the memory section")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		o.duration, o.reps = 2*time.Second, 1
		if !flagSet(fs, "idle-conns") {
			o.idleConns = 2000
		}
		if !flagSet(fs, "syscalls-in-runs") {
			o.syscallsInRuns = true
		}
	}
	if o.duration < time.Second || o.duration%time.Second != 0 {
		return nil, fmt.Errorf("--duration must be a whole number of seconds, at least 1s")
	}
	if o.syscallDuration < time.Second || o.syscallDuration%time.Second != 0 {
		return nil, fmt.Errorf("--syscall-duration must be a whole number of seconds, at least 1s")
	}
	if o.reps < 1 {
		return nil, fmt.Errorf("--reps must be at least 1")
	}
	return o, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseThreads turns "1,all" into distinct thread counts.
func parseThreads(s string, ncpu int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n := ncpu
		if f != "all" {
			var err error
			n, err = strconv.Atoi(f)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--threads: bad entry %q", f)
			}
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--threads: empty")
	}
	return out, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err == flag.ErrHelp {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferry-suite: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &suite{opt: o, ctx: ctx, start: time.Now()}
	code := s.main()
	os.Exit(code)
}

func (s *suite) main() int {
	dir, err := os.MkdirTemp("", "ferry-suite-")
	if err != nil {
		s.logf("error: %v", err)
		return 1
	}
	s.dir = dir
	s.kids = &children{dir: dir}
	defer func() {
		s.kids.stopAll()
		os.RemoveAll(dir)
	}()
	threads, err := parseThreads(s.opt.threads, runtime.NumCPU())
	if err != nil {
		s.logf("error: %v", err)
		return 2
	}
	loads, err := selectLoads(defaultLoads(), s.opt.only)
	if err != nil {
		s.logf("error: %v", err)
		return 2
	}
	s.loads = loads
	if len(loads) == 0 && !s.sectionSelected("redis-benchmark") && !s.sectionSelected("rss idle connections") {
		s.logf("error: --only %q selects nothing (loads: see the table rows; sections: redis-benchmark, rss idle connections)", s.opt.only)
		return 2
	}
	if err := s.checkTools(); err != nil {
		s.logf("error: %v", err)
		return 1
	}
	raiseNoFile(s)
	perf := s.opt.perf
	if s.opt.noSyscalls {
		perf = ""
	}
	s.sys = newSysCounter(s.ctx, perf)
	if s.sys.available() {
		s.logf("syscalls: perf stat -e %s", strings.Join(s.sys.events, ","))
	} else {
		s.logf("syscalls per request: n/a: %s", s.sys.reason())
	}
	if err := s.setup(threads); err != nil {
		s.logf("error: %v", err)
		return 1
	}
	plan := ""
	if n := s.plannedSyscallRuns(); n > 0 {
		plan = fmt.Sprintf(" and %d of %v counting syscalls", n, s.opt.syscallDuration)
	}
	s.logf("plan: %d loads, %d ferry-bench runs of %v%s, about %s in all",
		len(loads), s.plannedRuns(), s.opt.duration, plan, s.estimate().Round(time.Second))
	interrupted := false
	if err := s.runLoads(); err != nil {
		s.logf("stopped: %v", err)
		interrupted = true
	}
	if !interrupted && !s.opt.noRedisBenchmark && s.sectionSelected("redis-benchmark") {
		if err := s.runRedisBenchmark(); err != nil {
			s.logf("stopped: %v", err)
			interrupted = true
		}
	}
	if !interrupted && !s.opt.noRSS && s.sectionSelected("rss idle connections") {
		if err := s.runIdleRSS(); err != nil {
			s.logf("stopped: %v", err)
			interrupted = true
		}
	}
	report := s.report(interrupted)
	fmt.Print("\n" + report)
	if err := s.writeReport(report); err != nil {
		s.logf("error: %v", err)
		return 1
	}
	if interrupted {
		return 130
	}
	return 0
}

// raiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit, for the idle
// connections; the proxies inherit it.
func raiseNoFile(s *suite) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	s.nofile = r.Cur
}
