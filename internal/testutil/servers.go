package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Loopback is the host all helpers bind to.
const Loopback = "127.0.0.1"

func loopAddr(port int) string { return Loopback + ":" + strconv.Itoa(port) }

// StartRedis starts redis-server on a free loopback port, without
// persistence, with its data dir under t.TempDir():
//
//	redis-server --port P --bind 127.0.0.1 --save "" --appendonly no --dir D [args...]
//
// Extra args are appended (later directives override earlier ones), e.g.
// StartRedis(t, "--requirepass", "x"). The test is skipped if redis-server is
// not installed.
func StartRedis(t testing.TB, args ...string) *Proc {
	t.Helper()
	RequireBinary(t, "redis-server")
	port := FreePort(t)
	dir := t.TempDir()
	a := []string{
		"--port", strconv.Itoa(port),
		"--bind", Loopback,
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	return StartProcessWith(t, ProcOptions{
		Path:     "redis-server",
		Args:     append(a, args...),
		Dir:      dir,
		WaitAddr: loopAddr(port),
	})
}

// StartMemcached starts memcached on a free loopback port, TCP only:
//
//	memcached -l 127.0.0.1 -p P -U 0 [-u root] [args...]
//
// ("-u root" is added when running as root, which memcached requires). The
// test is skipped if memcached is not installed.
func StartMemcached(t testing.TB, args ...string) *Proc {
	t.Helper()
	RequireBinary(t, "memcached")
	port := FreePort(t)
	a := []string{"-l", Loopback, "-p", strconv.Itoa(port), "-U", "0"}
	if os.Geteuid() == 0 {
		a = append(a, "-u", "root")
	}
	return StartProcessWith(t, ProcOptions{
		Path:     "memcached",
		Args:     append(a, args...),
		WaitAddr: loopAddr(port),
	})
}

var listenRE = regexp.MustCompile(`(?m)^\s*listen\s*:\s*["']?([^"'\s#]+)`)

// NutcrackerListenAddrs returns the TCP "host:port" listen addresses of the
// pools in a nutcracker YAML config, in file order (unix-socket listeners are
// left out).
func NutcrackerListenAddrs(yaml string) []string {
	var out []string
	for _, m := range listenRE.FindAllStringSubmatch(yaml, -1) {
		a := m[1]
		if strings.HasPrefix(a, "/") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// StartNutcracker writes yaml to a config file and runs
//
//	nutcracker -c conf -a 127.0.0.1 -s S -v 4 -o log -p pidfile [args...]
//
// with S a free stats port, and waits until every pool's TCP listen address
// (parsed from the "listen:" lines) accepts connections. The returned Proc's
// Addr/Port are the first pool's; StatsAddr is the stats listener. Use
// FreePort for the listen ports, or NutcrackerYAML to write a simple pool.
// The test is skipped if nutcracker is not installed.
func StartNutcracker(t testing.TB, yaml string, args ...string) *Proc {
	t.Helper()
	RequireBinary(t, "nutcracker")
	listens := NutcrackerListenAddrs(yaml)
	if len(listens) == 0 {
		t.Fatalf("testutil.StartNutcracker: no TCP \"listen: host:port\" found in config:\n%s", yaml)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatalf("testutil.StartNutcracker: %v", err)
	}
	stats := FreePort(t)
	ncLog := filepath.Join(dir, "nutcracker-o.log")
	a := []string{
		"-c", conf,
		"-a", Loopback,
		"-s", strconv.Itoa(stats),
		"-v", "4",
		"-o", ncLog,
		"-p", filepath.Join(dir, "nutcracker.pid"),
	}
	p := StartProcessWith(t, ProcOptions{
		Path:           "nutcracker",
		Args:           append(a, args...),
		Dir:            dir,
		WaitAddr:       listens[0],
		ExtraWaitAddrs: listens[1:],
		ExtraLogs:      []string{ncLog, conf},
	})
	p.StatsAddr = loopAddr(stats)
	return p
}

// NutcrackerYAML returns a one-pool nutcracker config listening on listen
// and sharding (fnv1a_64 + ketama) over servers ("host:port", weight 1).
// redis selects the redis protocol, otherwise memcached. Extra "key: value"
// pool options (e.g. "timeout: 500") are added verbatim and override the
// defaults of the same key.
func NutcrackerYAML(pool, listen string, redis bool, servers []string, options ...string) string {
	opts := []string{
		"hash: fnv1a_64",
		"distribution: ketama",
		"redis: " + strconv.FormatBool(redis),
		"auto_eject_hosts: false",
		"timeout: 2000",
		"server_retry_timeout: 200",
		"server_failure_limit: 1",
		"preconnect: false",
	}
	keyOf := func(s string) string { k, _, _ := strings.Cut(s, ":"); return strings.TrimSpace(k) }
	for _, o := range options {
		replaced := false
		for i := range opts {
			if keyOf(opts[i]) == keyOf(o) {
				opts[i], replaced = o, true
			}
		}
		if !replaced {
			opts = append(opts, o)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  listen: %s\n", pool, listen)
	for _, o := range opts {
		fmt.Fprintf(&b, "  %s\n", o)
	}
	b.WriteString("  servers:\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "   - %s:1\n", s)
	}
	return b.String()
}
