package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/engine"
)

type options struct {
	help, version, testConf   bool
	daemonize, describeStats  bool
	confFile, output, pidFile string
	verbose, threads          int
	lockOSThread, cpuAffinity bool
	maxBuffered               int64
	reloadGrace               time.Duration
	adminAddr, statsAddr      string
	statsPort, statsInterval  int
	mbufSize                  int
	configSource, against     string

	// confGiven and adminGiven record whether -c and --admin were on the
	// command line: without -c ferry searches confLayouts, and only the
	// default admin address is skipped when it is taken.
	confGiven, adminGiven bool
}

// Defaults of the operational listeners. twemproxy's stats port listens on
// 0.0.0.0; ferry's default is loopback only, so its counters and pool
// layout are not published to the network unless asked for (-a 0.0.0.0).
const (
	defaultStatsPort     = 22222
	defaultStatsAddr     = "127.0.0.1"
	defaultStatsInterval = 30000 // ms, twemproxy's; ignored

	// twemproxy's mbuf size: default and the range nutcracker accepts.
	defaultMbufSize = 16384
	minMbufSize     = 512
	maxMbufSize     = 16 << 20
)

// defaultAdminAddr is a var so that a build can move it (-ldflags -X
// main.defaultAdminAddr=...), as the tests of this package do to own the
// address they check.
var defaultAdminAddr = "127.0.0.1:22223"

// newFlagSet defines every flag, storing into o. The usage text is written
// by hand (usageText); a test checks that it names every flag defined here.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	boolFlag := func(p *bool, short, long string) { fs.BoolVar(p, short, false, ""); fs.BoolVar(p, long, false, "") }
	intFlag := func(p *int, short, long string, def int) { fs.IntVar(p, short, def, ""); fs.IntVar(p, long, def, "") }
	strFlag := func(p *string, short, long, def string) {
		fs.StringVar(p, short, def, "")
		fs.StringVar(p, long, def, "")
	}
	boolFlag(&o.help, "h", "help")
	boolFlag(&o.version, "V", "version")
	boolFlag(&o.testConf, "t", "test-conf")
	boolFlag(&o.daemonize, "d", "daemonize")
	boolFlag(&o.describeStats, "D", "describe-stats")
	strFlag(&o.confFile, "c", "conf-file", "")
	intFlag(&o.verbose, "v", "verbose", 5)
	strFlag(&o.output, "o", "output", "")
	strFlag(&o.pidFile, "p", "pid-file", "")
	intFlag(&o.mbufSize, "m", "mbuf-size", defaultMbufSize)
	fs.IntVar(&o.threads, "threads", runtime.GOMAXPROCS(0), "")
	fs.BoolVar(&o.lockOSThread, "lock-os-thread", false, "")
	fs.BoolVar(&o.cpuAffinity, "cpu-affinity", false, "")
	fs.Int64Var(&o.maxBuffered, "max-buffered-bytes", 1<<30, "")
	fs.DurationVar(&o.reloadGrace, "reload-grace", engine.DefaultReloadGrace, "")
	fs.StringVar(&o.adminAddr, "admin", defaultAdminAddr, "")
	intFlag(&o.statsPort, "s", "stats-port", defaultStatsPort)
	strFlag(&o.statsAddr, "a", "stats-addr", defaultStatsAddr)
	intFlag(&o.statsInterval, "i", "stats-interval", defaultStatsInterval)
	fs.StringVar(&o.configSource, "config-source", "", "")
	fs.StringVar(&o.against, "against", "", "")
	return fs
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := newFlagSet(o)
	if err := fs.Parse(expandShortFlags(fs, args)); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "c", "conf-file":
			o.confGiven = true
		case "admin":
			o.adminGiven = true
		}
	})
	if o.confGiven && o.confFile == "" {
		return nil, fmt.Errorf("--conf-file must not be empty")
	}
	if o.threads < 1 {
		return nil, fmt.Errorf("--threads must be at least 1, got %d", o.threads)
	}
	if o.maxBuffered < 0 {
		return nil, fmt.Errorf("--max-buffered-bytes must be 0 (no cap) or more, got %d", o.maxBuffered)
	}
	if o.reloadGrace <= 0 {
		return nil, fmt.Errorf("--reload-grace must be more than 0, got %v", o.reloadGrace)
	}
	if o.statsPort < 0 || o.statsPort > 65535 {
		return nil, fmt.Errorf("--stats-port must be 0 (off) to 65535, got %d", o.statsPort)
	}
	if o.statsInterval < 0 {
		return nil, fmt.Errorf("--stats-interval must not be negative, got %d", o.statsInterval)
	}
	if o.mbufSize < minMbufSize || o.mbufSize > maxMbufSize {
		// nutcracker's wording
		return nil, fmt.Errorf("--mbuf-size: mbuf chunk size must be between %d and %d bytes, got %d",
			minMbufSize, maxMbufSize, o.mbufSize)
	}
	if o.against != "" && !o.testConf {
		return nil, fmt.Errorf("--against needs -t: it previews a reload from that file, it does not serve")
	}
	if o.adminAddr == "off" {
		o.adminAddr = ""
	}
	return o, nil
}

// expandShortFlags rewrites getopt's short forms, which Go's flag package
// does not read, into ones it does: bundled booleans ("-dt" -> "-d -t"),
// booleans ending in a flag that takes a value ("-dc FILE" -> "-d -c
// FILE") and a value glued to its flag ("-v6" -> "-v 6"). A word that is a
// flag's full name (-threads), holds '=', or follows a flag that takes a
// value is left as it is; so is everything after "--".
func expandShortFlags(fs *flag.FlagSet, args []string) []string {
	isBool := func(f *flag.Flag) bool {
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		return ok && b.IsBoolFlag()
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if name, ok := strings.CutPrefix(a, "--"); ok {
			out = append(out, a)
			if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
				i++
				out = append(out, args[i]) // the value
			}
			continue
		}
		name, ok := strings.CutPrefix(a, "-")
		if !ok || name == "" || strings.Contains(name, "=") {
			out = append(out, a)
			continue
		}
		if f := fs.Lookup(name); f != nil {
			out = append(out, a)
			if !isBool(f) && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		expanded, valueNext, ok := expandBundle(fs, name, isBool)
		if !ok {
			out = append(out, a) // let the flag package report it
			continue
		}
		out = append(out, expanded...)
		if valueNext && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// expandBundle splits "dtv6" into "-d", "-t", "-v", "6". valueNext says
// the last flag takes a value and none was glued to it. ok is false when a
// letter is not a one-letter flag.
func expandBundle(fs *flag.FlagSet, bundle string, isBool func(*flag.Flag) bool) (out []string, valueNext, ok bool) {
	for j := 0; j < len(bundle); j++ {
		f := fs.Lookup(bundle[j : j+1])
		if f == nil {
			return nil, false, false
		}
		out = append(out, "-"+f.Name)
		if !isBool(f) {
			if rest := bundle[j+1:]; rest != "" {
				return append(out, rest), false, true
			}
			return out, true, true
		}
	}
	return out, false, true
}
