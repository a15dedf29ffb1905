// Command ferry is a Redis / memcache proxy that reads twemproxy's
// configuration and places keys exactly where twemproxy does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usageText = `ferry: a Redis and memcache proxy, drop-in for twemproxy (nutcracker)

Usage: ferry [options]

Options (twemproxy's short flags work as in nutcracker):
  -h, --help                this help
  -V, --version             print the version and exit
  -t, --test-conf           check the configuration file and exit (0 = valid)
  -c, --conf-file FILE      configuration file, twemproxy YAML (default conf/nutcracker.yml)
  -v, --verbose N           log level as in twemproxy: <=3 errors, 4 warnings,
                            5-6 info, >=7 debug (default 5)
  -o, --output FILE         write logs to FILE instead of stderr
  -p, --pid-file FILE       write the process id to FILE (removed on exit)
      --threads N           number of event loops (default GOMAXPROCS = %d); each
                            owns its own backend connections
      --lock-os-thread      lock every event loop to an OS thread
      --cpu-affinity        pin event loop i to CPU i (implies --lock-os-thread)
      --max-buffered-bytes N  cap on the bytes held for all clients together
                            (unparsed input + unsent output, default 1073741824 =
                            1 GiB; 0 = no cap). Over it ferry parses nothing new
                            and closes the clients holding the most
      --admin ADDR          admin HTTP server address (default 127.0.0.1:22223;
                            "" or "off" disables it). It serves /metrics
                            (Prometheus), /stats (twemproxy's JSON), /healthz,
                            /config (the running configuration file) and
                            /debug/pprof/
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

Signals: SIGTERM and SIGINT stop ferry (open connections are closed);
SIGHUP reopens the log file; SIGTTIN / SIGTTOU raise / lower the log level
(as twemproxy's verbosity signals).

Exit status: 0 on success, 1 on a bad configuration or a start failure
(including an admin or stats address that cannot be bound).
`

type options struct {
	help, version, testConf   bool
	confFile, output, pidFile string
	verbose, threads          int
	lockOSThread, cpuAffinity bool
	maxBuffered               int64
	adminAddr, statsAddr      string
	statsPort, statsInterval  int
}

// Defaults of the operational listeners. twemproxy's stats port listens on
// 0.0.0.0; ferry's default is loopback only, so its counters and pool
// layout are not published to the network unless asked for (-a 0.0.0.0).
const (
	defaultAdminAddr     = "127.0.0.1:22223"
	defaultStatsPort     = 22222
	defaultStatsAddr     = "127.0.0.1"
	defaultStatsInterval = 30000 // ms, twemproxy's; ignored
)

// newFlagSet defines every flag, storing into o. The usage text is written
// by hand (usageText); a test checks that it names every flag defined here.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	both := func(p *bool, short, long string) { fs.BoolVar(p, short, false, ""); fs.BoolVar(p, long, false, "") }
	both(&o.help, "h", "help")
	both(&o.version, "V", "version")
	both(&o.testConf, "t", "test-conf")
	fs.StringVar(&o.confFile, "c", "conf/nutcracker.yml", "")
	fs.StringVar(&o.confFile, "conf-file", "conf/nutcracker.yml", "")
	fs.IntVar(&o.verbose, "v", 5, "")
	fs.IntVar(&o.verbose, "verbose", 5, "")
	fs.StringVar(&o.output, "o", "", "")
	fs.StringVar(&o.output, "output", "", "")
	fs.StringVar(&o.pidFile, "p", "", "")
	fs.StringVar(&o.pidFile, "pid-file", "", "")
	fs.IntVar(&o.threads, "threads", runtime.GOMAXPROCS(0), "")
	fs.BoolVar(&o.lockOSThread, "lock-os-thread", false, "")
	fs.BoolVar(&o.cpuAffinity, "cpu-affinity", false, "")
	fs.Int64Var(&o.maxBuffered, "max-buffered-bytes", 1<<30, "")
	fs.StringVar(&o.adminAddr, "admin", defaultAdminAddr, "")
	fs.IntVar(&o.statsPort, "s", defaultStatsPort, "")
	fs.IntVar(&o.statsPort, "stats-port", defaultStatsPort, "")
	fs.StringVar(&o.statsAddr, "a", defaultStatsAddr, "")
	fs.StringVar(&o.statsAddr, "stats-addr", defaultStatsAddr, "")
	fs.IntVar(&o.statsInterval, "i", defaultStatsInterval, "")
	fs.IntVar(&o.statsInterval, "stats-interval", defaultStatsInterval, "")
	return fs
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.threads < 1 {
		return nil, fmt.Errorf("--threads must be at least 1, got %d", o.threads)
	}
	if o.maxBuffered < 0 {
		return nil, fmt.Errorf("--max-buffered-bytes must be 0 (no cap) or more, got %d", o.maxBuffered)
	}
	if o.statsPort < 0 || o.statsPort > 65535 {
		return nil, fmt.Errorf("--stats-port must be 0 (off) to 65535, got %d", o.statsPort)
	}
	if o.statsInterval < 0 {
		return nil, fmt.Errorf("--stats-interval must not be negative, got %d", o.statsInterval)
	}
	if o.adminAddr == "off" {
		o.adminAddr = ""
	}
	return o, nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\nRun 'ferry --help' for the options.\n", err)
		return 1
	}
	if o.help {
		fmt.Fprintf(stdout, usageText, runtime.GOMAXPROCS(0))
		return 0
	}
	if o.version {
		fmt.Fprintf(stdout, "This is ferry-%s\n", version)
		return 0
	}
	// The text is kept for the admin server's /config.
	confText, err := os.ReadFile(o.confFile)
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Parse(o.confFile, confText)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry: configuration file '%s' syntax is invalid\n%v\n", o.confFile, err)
		return 1
	}
	if o.testConf {
		fmt.Fprintf(stdout, "ferry: configuration file '%s' syntax is ok\n", o.confFile)
		return 0
	}

	logOut := stderr
	var logFile *reopenFile
	if o.output != "" {
		logFile, err = openLog(o.output)
		if err != nil {
			fmt.Fprintf(stderr, "ferry: %v\n", err)
			return 1
		}
		defer logFile.Close()
		logOut = logFile
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(o.verbose))
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))

	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintf(stderr, "ferry: pid file: %v\n", err)
			return 1
		}
		defer os.Remove(o.pidFile)
	}

	srv, err := engine.New(cfg, engine.Options{
		Threads: o.threads, LockOSThread: o.lockOSThread, CPUAffinity: o.cpuAffinity,
		MaxBufferedBytes: o.maxBuffered,
		Version:          version, Logger: log,
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
	for _, p := range cfg.Pools {
		log.Info("pool listening", "pool", p.Name, "listen", p.Listen, "servers", len(p.Servers), "threads", o.threads)
	}

	adm, err := startAdmin(o, srv, confText, log)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: cannot start: %v\n", err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Stop(ctx)
		cancel()
		return 1
	}
	defer stopAdmin(adm, log)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Error("event loops stopped", "err", err)
				return 1
			}
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGTTIN || sig == syscall.SIGTTOU {
				// slog levels are 4 apart; debug is the most verbose, error the least
				l := level.Level() - 4
				if sig == syscall.SIGTTOU {
					l = level.Level() + 4
				}
				level.Set(max(slog.LevelDebug, min(slog.LevelError, l)))
				log.Warn("log level changed", "level", level.Level().String())
				continue
			}
			if sig == syscall.SIGHUP {
				if logFile != nil {
					if err := logFile.Reopen(); err != nil {
						log.Error("reopen log file", "err", err)
					}
				}
				continue
			}
			log.Info("stopping", "signal", sig.String())
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
