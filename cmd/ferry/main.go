// Command ferry is a Redis / memcache proxy that reads twemproxy's
// configuration and places keys exactly where twemproxy does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usageText = `ferry: a Redis and memcache proxy, drop-in for twemproxy (nutcracker)

Usage: ferry [options]

Options (nutcracker's flags work as in nutcracker, bundled too: -dt, -v6):
  -h, --help                this help
  -V, --version             print the version and exit
  -t, --test-conf           check the configuration file and exit (0 = valid)
  -d, --daemonize           run as a daemon: detach from the terminal into a new
                            session; the command exits 0 once the daemon serves
                            (listeners bound, pid file written), or 1 with the
                            daemon's start error. stdin/stdout/stderr go to
                            /dev/null, or to the -o file (without -o, warnings
                            before it serves are printed by the command). The
                            working directory is kept, so relative -c/-o/-p
                            paths still work
  -D, --describe-stats      print the stats fields and their meaning, and exit
  -c, --conf-file FILE      configuration file, twemproxy YAML. Default: the
                            first that exists of conf/nutcracker.yml
                            (twemproxy's) and /etc/nutcracker/nutcracker.yml
                            (Debian's nutcracker package; ferry then logs to
                            /var/log/nutcracker/nutcracker.log unless -o is
                            given, as that package does)
      --config-source etcd://HOST:PORT[,HOST:PORT...]/KEY
                            read the configuration (twemproxy YAML) from an
                            etcd key and watch it: each change is validated,
                            then applied as a reload (an invalid one is logged
                            and changes nothing). While etcd is unreachable
                            ferry keeps its configuration and retries; at
                            start it uses the -c file if one is given (and
                            keeps trying etcd), else exits 1
      --against FILE        with -t: also print, per pool, what a reload from
                            FILE to the checked configuration would change and
                            the share of keys (100000 sampled) that would move
                            to another server
  -v, --verbose N           log level as in twemproxy: <=3 errors, 4 warnings,
                            5-6 info, >=7 debug (default 5)
  -o, --output FILE         write logs to FILE instead of stderr
  -p, --pid-file FILE       write the process id to FILE (removed on exit;
                            none by default, as nutcracker)
  -m, --mbuf-size N         accepted for twemproxy compatibility, no effect:
                            N must be 512..16777216 as nutcracker's mbuf chunk
                            size (default 16384), but ferry has no mbufs (it
                            reads into per-loop buffers and keeps a partial
                            request whole)
      --threads N           number of event loops (default GOMAXPROCS = %d); each
                            owns its own backend connections
      --lock-os-thread      lock every event loop to an OS thread
      --cpu-affinity        pin event loop i to CPU i (implies --lock-os-thread)
      --max-buffered-bytes N  cap on the bytes held for all clients together
                            (unparsed input + unsent output, default 1073741824 =
                            1 GiB; 0 = no cap). Over it ferry parses nothing new
                            and closes the clients holding the most
      --reload-grace D      how long the clients of a pool removed by a reload
                            may wait for the replies they are owed before they
                            are closed (default 30s; e.g. 500ms, 2m)
      --admin ADDR          admin HTTP server address (default 127.0.0.1:22223;
                            "" or "off" disables it). It serves / (a status
                            page: pools, servers, rates, latency), /metrics
                            (Prometheus, with latency histograms), /stats
                            (twemproxy's JSON), /healthz, /config (the running
                            configuration, secrets redacted), POST /reload and
                            /debug/pprof/. When the default is taken (another
                            ferry on this host), ferry starts without it and
                            warns once; an address given with --admin that
                            cannot be bound is a start failure
  -s, --stats-port N        twemproxy's raw TCP stats port: every connection gets
                            the /stats JSON document, then is closed (default
                            22222; 0 disables it)
  -a, --stats-addr ADDR     address the stats port listens on (default 127.0.0.1;
                            twemproxy's default is 0.0.0.0: give -a 0.0.0.0 to
                            expose the stats to other hosts as it does)
  -i, --stats-interval MS   accepted for twemproxy compatibility and ignored:
                            twemproxy aggregates its stats every MS milliseconds
                            (default 30000), ferry merges its counters on every
                            request for them, so they are always current

Signals (each is logged by name): SIGTERM and SIGINT stop ferry (open
connections are closed); SIGHUP reopens the log file and reloads the
configuration; SIGUSR1 reloads the configuration; SIGTTIN / SIGTTOU raise /
lower the log level; SIGUSR2 is logged, no action; SIGSEGV is logged with
every goroutine's stack and the process then dies by SIGSEGV, as a crash.
A reload re-reads the -c file and applies it while serving: client
connections are kept, pools added listen, pools removed stop, changed
servers take the next requests; a file that is invalid changes nothing
(the error, with file:line, is logged).

Exit status: 0 on success, 1 on a bad flag, a bad or missing configuration
or a start failure (including a stats address, or an admin address given
with --admin, that cannot be bound).
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\nRun 'ferry --help' for the options.\n", err)
		return 1
	}
	switch {
	case o.help:
		fmt.Fprintf(stdout, usageText, runtime.GOMAXPROCS(0))
		return 0
	case o.version:
		fmt.Fprintf(stdout, "This is ferry-%s\n", version)
		return 0
	case o.describeStats:
		describeStats(stdout)
		return 0
	}
	if o.configSource == "" || o.confGiven {
		if err := resolveConf(o); err != nil {
			fmt.Fprintf(stderr, "ferry: %v\n", err)
			return 1
		}
	}
	// From here: a signal that arrives while the configuration is read
	// (etcd may take seconds) or once a listener accepts (a supervisor's
	// SIGHUP, a test's) must find its handler, not the default action. One
	// that arrives before ferry serves waits until it does.
	sigs := notifySignals()
	sc := loadStartConfig(o, stderr)
	if sc == nil {
		return 1
	}
	if o.testConf {
		return testConfig(o, sc, stdout, stderr)
	}
	report := daemonChild(o)
	if o.daemonize && report == nil {
		return daemonize(args, o, stderr)
	}
	if report != nil {
		stderr = report // until ready; on a failed start the pipe closes with the exit
	}
	return serve(o, sc, stderr, report, sigs)
}

// serve runs the proxy until a signal stops it. report is the daemon
// child's start report (nil in the foreground), told once ferry serves.
func serve(o *options, sc *startConfig, stderr io.Writer, report *startReport, sigs chan os.Signal) int {
	cfg, confText := sc.cfg, sc.raw
	level := new(slog.LevelVar)
	level.Set(logLevel(o.verbose))
	// A daemon without -o logs to the stderr it was given (/dev/null), as
	// nutcracker's does, except that its warnings and errors until it
	// serves (a skipped admin address) go up to the parent's stderr with
	// its start errors.
	logOut, leveler := stderr, slog.Leveler(level)
	if report != nil {
		leveler = warnOrAbove{level}
	}
	var logFile *reopenFile
	if o.output != "" {
		var err error
		logFile, err = openLog(o.output)
		if err != nil {
			fmt.Fprintf(stderr, "ferry: %v\n", err)
			return 1
		}
		defer logFile.Close()
		logOut, leveler = logFile, level
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: leveler}))

	srv, err := engine.New(cfg, engine.Options{
		Threads: o.threads, LockOSThread: o.lockOSThread, CPUAffinity: o.cpuAffinity,
		MaxBufferedBytes: o.maxBuffered, ReloadGrace: o.reloadGrace,
		Version: version, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "ferry: cannot start: %v\n", err)
		return 1
	case <-srv.Ready():
	}
	if srv.Err() != nil {
		fmt.Fprintf(stderr, "ferry: cannot start: %v\n", srv.Err())
		return 1
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintf(stderr, "ferry: pid file: %v\n", err)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Stop(ctx)
			cancel()
			return 1
		}
		// Written once the listeners are bound, and removed on exit only
		// while it is still ours: a second copy that fails to start (its
		// address taken) must not replace or delete the pid file of the
		// instance that runs.
		defer removePidFile(o.pidFile)
	}

	for _, p := range cfg.Pools {
		log.Info("pool listening", "pool", p.Name, "listen", p.Listen, "servers", len(p.Servers), "threads", o.threads)
	}

	rl := &reloader{srv: srv, src: sc.src, log: log}
	adm, err := startAdmin(o, srv, confText, log, func(ctx context.Context) ([]string, error) {
		return rl.reloadSource(ctx, "POST /reload")
	})
	if err != nil {
		fmt.Fprintf(stderr, "ferry: cannot start: %v\n", err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Stop(ctx)
		cancel()
		return 1
	}
	defer stopAdmin(adm, log)

	rl.adm = adm
	sh := &signalHandler{
		log: log, level: level, logFile: logFile, out: logOut,
		sigLog: slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.Level(math.MinInt)})),
		reload: func(ctx context.Context, trigger string) error {
			_, err := rl.reloadSource(ctx, trigger)
			return err
		},
	}
	// Each configuration the source delivers (a changed etcd key; a file
	// is not watched) is applied as a reload here.
	stopWatch := watchSource(sc, log, func(cfg *config.Config, raw []byte) error {
		_, err := rl.apply(cfg, raw, "config source")
		return err
	})
	defer stopWatch()
	log.Info("ferry started", "version", version, "pid", os.Getpid(), "conf", cfg.File, "daemon", report != nil)
	if report != nil {
		report.ready()
	}
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Error("event loops stopped", "err", err)
				return 1
			}
			return 0
		case sig := <-sigs:
			if !sh.handle(sig) {
				continue
			}
			stopAdmin(adm, log)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := srv.Stop(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				log.Warn("stop", "err", err)
			}
			return 0
		}
	}
}

// warnOrAbove is a daemon's log level while its log goes to its parent.
type warnOrAbove struct{ l slog.Leveler }

func (w warnOrAbove) Level() slog.Level { return max(w.l.Level(), slog.LevelWarn) }

func logLevel(v int) slog.Level {
	switch {
	case v <= 3:
		return slog.LevelError
	case v == 4:
		return slog.LevelWarn
	case v <= 6:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// removePidFile removes path if it holds this process's pid.
func removePidFile(path string) {
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(path)
	}
}
