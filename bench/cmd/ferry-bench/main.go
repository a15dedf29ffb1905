// Command ferry-bench is a load generator for Redis and memcache servers and
// proxies, with flags modelled on memtier_benchmark. Run it with --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/bench/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// option is one flag with its aliases, shown as one line in --help.
type option struct {
	names []string // short first when present
	arg   string   // argument placeholder; "" for booleans
	help  string
	value flag.Value
}

// funcValue adapts a parse function to flag.Value.
type funcValue struct {
	get string
	set func(string) error
}

func (f *funcValue) String() string     { return f.get }
func (f *funcValue) Set(s string) error { return f.set(s) }

type boolValue struct{ p *bool }

func (b boolValue) String() string {
	if b.p == nil {
		return "false"
	}
	return strconv.FormatBool(*b.p)
}
func (b boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.p = v
	return nil
}
func (b boolValue) IsBoolFlag() bool { return true }

func strVal(p *string) flag.Value {
	return &funcValue{get: *p, set: func(s string) error { *p = s; return nil }}
}

func intVal(p *int) flag.Value {
	return &funcValue{get: strconv.Itoa(*p), set: func(s string) error {
		v, err := strconv.Atoi(s)
		if err != nil {
			return errors.New("not an integer")
		}
		*p = v
		return nil
	}}
}

func int64Val(p *int64) flag.Value {
	return &funcValue{get: strconv.FormatInt(*p, 10), set: func(s string) error {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		*p = v
		return nil
	}}
}

func uint64Val(p *uint64) flag.Value {
	return &funcValue{get: strconv.FormatUint(*p, 10), set: func(s string) error {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return errors.New("not a non-negative integer")
		}
		*p = v
		return nil
	}}
}

func floatVal(p *float64) flag.Value {
	return &funcValue{get: strconv.FormatFloat(*p, 'g', -1, 64), set: func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("not a number")
		}
		*p = v
		return nil
	}}
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := loadgen.DefaultConfig()
	var (
		protocol      = string(cfg.Protocol)
		testTime      float64
		keyPattern    = "R:R"
		ratio         = "1:10"
		cmdPattern    = "R"
		jsonPath      string
		hideHistogram bool
		quiet         bool
		help          bool
		connTimeout   = cfg.ConnectTimeout.Seconds()
	)
	progress := stderrIsTerminal()
	opts := []option{
		{[]string{"s", "server"}, "HOST", "server address", strVal(&cfg.Server)},
		{[]string{"p", "port"}, "PORT", "server port (default 6379 for redis, 11211 for memcache protocols)", intVal(&cfg.Port)},
		{[]string{"S", "unix-socket"}, "PATH", "connect to a UNIX socket instead of --server/--port", strVal(&cfg.UnixSocket)},
		{[]string{"P", "protocol"}, "PROTO", "redis, memcache (text) or memcache_binary", strVal(&protocol)},
		{[]string{"t", "threads"}, "N", "threads: goroutines, each driving its --clients connections in lock step", intVal(&cfg.Threads)},
		{[]string{"c", "clients"}, "N", "connections per thread (total connections = threads x clients)", intVal(&cfg.Clients)},
		{[]string{"pipeline"}, "N", "requests sent per connection before reading their replies", intVal(&cfg.Pipeline)},
		{[]string{"test-time"}, "SECS", "run for this many seconds (overrides --requests)", floatVal(&testTime)},
		{[]string{"n", "requests"}, "N", "requests per connection when --test-time is not given", int64Val(&cfg.Requests)},
		{[]string{"key-prefix"}, "STR", "prefix of every key; the key number follows it in decimal", strVal(&cfg.KeyPrefix)},
		{[]string{"key-minimum"}, "N", "smallest key number", uint64Val(&cfg.KeyMin)},
		{[]string{"key-maximum"}, "N", "largest key number", uint64Val(&cfg.KeyMax)},
		{[]string{"key-pattern"}, "SET:GET", "key distribution for sets and gets: R uniform random, G gaussian, S sequential (each connection walks the range from its own offset)", strVal(&keyPattern)},
		{[]string{"key-median"}, "N", "median of the G pattern (default: middle of the key range)", floatVal(&cfg.KeyMedian)},
		{[]string{"key-stddev"}, "N", "standard deviation of the G pattern (default: key range / 6)", floatVal(&cfg.KeyStddev)},
		{[]string{"d", "data-size"}, "BYTES", "size of the value written by sets", intVal(&cfg.DataSize)},
		{[]string{"ratio"}, "SET:GET", "set to get ratio, e.g. 1:10, 1:0 (sets only), 0:1 (gets only)", strVal(&ratio)},
		{[]string{"multi-key-get"}, "N", "keys per get: N > 1 sends MGET (redis), 'get k1 .. kN' (memcache) or N GETKQ + NOOP (binary); hits/misses count keys", intVal(&cfg.MultiKeyGet)},
		{[]string{"command"}, "TEMPLATE", "redis only: send this command instead of the set/get mix; __key__ and __data__ are replaced per request, e.g. \"MSET __key__ __data__ __key__ __data__\"", strVal(&cfg.Command)},
		{[]string{"command-key-pattern"}, "R|G|S", "key distribution for --command keys", strVal(&cmdPattern)},
		{[]string{"seed"}, "N", "random seed (connection i uses stream i of it)", uint64Val(&cfg.Seed)},
		{[]string{"connect-timeout"}, "SECS", "dial timeout per connection", floatVal(&connTimeout)},
		{[]string{"label"}, "STR", "name of this run (e.g. direct, ferry, nutcracker), copied into the output", strVal(&cfg.Label)},
		{[]string{"json", "json-out-file"}, "FILE", "also write the result as JSON to FILE ('-' for stdout)", strVal(&jsonPath)},
		{[]string{"hide-histogram"}, "", "do not print the latency distribution table", boolValue{&hideHistogram}},
		{[]string{"progress"}, "", "print a progress line to stderr every second (default: on when stderr is a terminal); --progress=false turns it off", boolValue{&progress}},
		{[]string{"q", "quiet"}, "", "print nothing to stdout (use with --json FILE)", boolValue{&quiet}},
		{[]string{"h", "help"}, "", "show this help", boolValue{&help}},
	}

	fs := flag.NewFlagSet("ferry-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, o := range opts {
		for _, n := range o.names {
			fs.Var(o.value, n, o.help)
		}
	}
	usage := func(w io.Writer) { printUsage(w, opts) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "ferry-bench: %v\nRun ferry-bench --help for the list of flags.\n", err)
		return 2
	}
	if help {
		usage(stdout)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ferry-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg.Protocol = loadgen.Protocol(protocol)
	if !set["p"] && !set["port"] && cfg.Protocol != loadgen.ProtoRedis {
		cfg.Port = 11211
	}
	cfg.TestTime = time.Duration(testTime * float64(time.Second))
	cfg.ConnectTimeout = time.Duration(connTimeout * float64(time.Second))
	var err error
	if cfg.SetPattern, cfg.GetPattern, err = loadgen.ParseKeyPattern(keyPattern); err != nil {
		return fail(stderr, err)
	}
	if cfg.RatioSet, cfg.RatioGet, err = loadgen.ParseRatio(ratio); err != nil {
		return fail(stderr, err)
	}
	if cfg.CommandKeyPattern, _, err = loadgen.ParseKeyPattern(cmdPattern + ":R"); err != nil {
		return fail(stderr, err)
	}
	if err := cfg.Validate(); err != nil {
		return fail(stderr, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progressOut io.Writer
	if progress {
		progressOut = stderr
	}
	res, runErr := loadgen.Run(ctx, cfg, progressOut)
	if res == nil {
		return fail(stderr, runErr)
	}
	if !quiet {
		res.WriteText(stdout, hideHistogram)
	}
	if jsonPath != "" {
		if err := res.WriteJSON(jsonPath); err != nil {
			return fail(stderr, err)
		}
	}
	if runErr != nil {
		return fail(stderr, runErr)
	}
	if res.Aborted != "" {
		return 130
	}
	return 0
}

func fail(w io.Writer, err error) int {
	fmt.Fprintf(w, "ferry-bench: %v\n", err)
	return 1
}

func printUsage(w io.Writer, opts []option) {
	fmt.Fprint(w, `Usage: ferry-bench [flags]

Load generator for Redis and memcache servers and proxies; flags follow
memtier_benchmark where they overlap. Each thread is one goroutine that writes a
pipeline batch on each of its connections, then reads all their replies.
Latency is per request: from its batch's write to its reply being parsed.
Client CPU per request (getrusage over the run) is reported so the generator's
own cost can be checked against the server's. Flags take one or two dashes.

Flags:
`)
	for _, o := range opts {
		var names []string
		for _, n := range o.names {
			if len(n) == 1 {
				names = append(names, "-"+n)
			} else {
				names = append(names, "--"+n)
			}
		}
		left := strings.Join(names, ", ")
		if o.arg != "" {
			left += " " + o.arg
		}
		help := o.help
		if def := o.value.String(); o.arg != "" && def != "" && def != "0" && !strings.Contains(help, "default") {
			help += " (default " + def + ")"
		}
		if len(left) > 28 {
			fmt.Fprintf(w, "  %s\n  %-28s  %s\n", left, "", help)
		} else {
			fmt.Fprintf(w, "  %-28s  %s\n", left, help)
		}
	}
	fmt.Fprint(w, `
Exit status: 0 on success, 1 on an error (including a protocol desync or a
lost connection; the partial summary is still printed), 2 on bad flags,
130 when interrupted.
`)
}

func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
