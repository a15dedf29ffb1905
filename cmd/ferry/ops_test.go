package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/admin"
	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestParseFlagsTwemproxy(t *testing.T) {
	o, err := parseFlags(nil)
	require.NoError(t, err)
	assert.False(t, o.daemonize)
	assert.False(t, o.confGiven)
	assert.False(t, o.adminGiven)
	assert.Equal(t, 16384, o.mbufSize)

	o, err = parseFlags([]string{"-d", "-D", "-m", "512", "-c", "x.yml", "--admin", defaultAdminAddr})
	require.NoError(t, err)
	assert.True(t, o.daemonize)
	assert.True(t, o.describeStats)
	assert.Equal(t, 512, o.mbufSize)
	assert.True(t, o.confGiven)
	assert.True(t, o.adminGiven, "--admin given explicitly, even with the default value")

	o, err = parseFlags([]string{"--daemonize", "--describe-stats", "--mbuf-size=16777216"})
	require.NoError(t, err)
	assert.True(t, o.daemonize && o.describeStats)
	assert.Equal(t, 16777216, o.mbufSize)

	for _, bad := range []string{"511", "16777217", "0", "-1"} {
		_, err := parseFlags([]string{"-m", bad})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "mbuf chunk size must be between 512 and 16777216 bytes")
	}

	// getopt's bundled and glued short forms
	o, err = parseFlags([]string{"-dt", "-v6", "-cconf.yml", "-Ds", "1234", "-m512"})
	require.NoError(t, err)
	assert.True(t, o.daemonize && o.testConf && o.describeStats)
	assert.Equal(t, 6, o.verbose)
	assert.Equal(t, "conf.yml", o.confFile)
	assert.Equal(t, 1234, o.statsPort)
	assert.Equal(t, 512, o.mbufSize)
	// a value that looks like bundled flags stays a value; full names stay
	o, err = parseFlags([]string{"-o", "-dt", "-threads", "3", "--admin", "-dt"})
	require.NoError(t, err)
	assert.Equal(t, "-dt", o.output)
	assert.Equal(t, "-dt", o.adminAddr)
	assert.Equal(t, 3, o.threads)
	assert.False(t, o.daemonize)
	_, err = parseFlags([]string{"-dx"})
	assert.ErrorContains(t, err, "-dx")
}

func TestDescribeStatsMatchesStatsDocument(t *testing.T) {
	code, out, _ := runInProcess("-D")
	require.Equal(t, 0, code)
	code, out2, _ := runInProcess("--describe-stats")
	require.Equal(t, 0, code)
	require.Equal(t, out, out2)
	assert.Contains(t, out, "pool stats:\n  client_eof          \"# eof on client connections\"\n")
	assert.Contains(t, out, "server stats:\n  server_eof          \"# eof on server connections\"\n")

	// The fields described are the fields the stats document has, in order.
	snap := engine.Snapshot{Pools: []engine.PoolSnapshot{{Name: "p", Servers: []engine.ServerSnapshot{{Name: "s"}}}}}
	doc := admin.AppendStatsJSON(nil, snap, "host")
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc, &top), "%s", doc)
	poolKeys := orderedKeys(t, top["p"])
	var pool map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(top["p"], &pool))
	serverKeys := orderedKeys(t, pool["s"])
	assert.Equal(t, append(fieldNames(poolStats), "s"), poolKeys, "pool fields of /stats vs -D")
	assert.Equal(t, fieldNames(serverStats), serverKeys, "server fields of /stats vs -D")
	for _, f := range append(fieldNames(poolStats), fieldNames(serverStats)...) {
		assert.Regexp(t, `(?m)^  `+f+` +"[^"]+"$`, out)
	}
}

func fieldNames(fs []statField) []string {
	var names []string
	for _, f := range fs {
		names = append(names, f.name)
	}
	return names
}

// orderedKeys lists the keys of a JSON object in document order.
func orderedKeys(t *testing.T, obj json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func TestHelpExplainsTwemproxyFlags(t *testing.T) {
	_, out, _ := runInProcess("--help")
	for _, s := range []string{"-d, --daemonize", "-D, --describe-stats", "-m, --mbuf-size N", "512..16777216",
		"no effect", "conf/nutcracker.yml", "/etc/nutcracker/nutcracker.yml", "--admin ADDR", "SIGSEGV", "SIGUSR1"} {
		assert.Contains(t, out, s)
	}
}

func TestResolveConfLayouts(t *testing.T) {
	dir := t.TempDir()
	twem, deb := filepath.Join(dir, "conf", "nutcracker.yml"), filepath.Join(dir, "etc", "nutcracker.yml")
	saved := confLayouts
	t.Cleanup(func() { confLayouts = saved })
	confLayouts = []layout{{name: "twemproxy", conf: twem}, {name: "Debian", conf: deb, log: "/var/log/x.log"}}

	o := &options{}
	err := resolveConf(o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-c was not given and none of "+twem+", "+deb+" exists; pass one with -c FILE")

	require.NoError(t, os.MkdirAll(filepath.Dir(deb), 0o755))
	require.NoError(t, os.WriteFile(deb, nil, 0o644))
	o = &options{}
	require.NoError(t, resolveConf(o))
	assert.Equal(t, deb, o.confFile)
	assert.Equal(t, "/var/log/x.log", o.output, "Debian's layout logs to its file")
	o = &options{output: "mine.log"}
	require.NoError(t, resolveConf(o))
	assert.Equal(t, "mine.log", o.output, "-o wins")
	o = &options{testConf: true}
	require.NoError(t, resolveConf(o))
	assert.Equal(t, "", o.output, "-t opens no log")

	require.NoError(t, os.MkdirAll(filepath.Dir(twem), 0o755))
	require.NoError(t, os.WriteFile(twem, nil, 0o644))
	o = &options{}
	require.NoError(t, resolveConf(o))
	assert.Equal(t, twem, o.confFile, "twemproxy's default first")
	assert.Equal(t, "", o.output)

	o = &options{confFile: "given.yml", confGiven: true}
	require.NoError(t, resolveConf(o))
	assert.Equal(t, "given.yml", o.confFile)
}

// runBinaryIn runs ferry in dir to completion (within 20 s).
func runBinaryIn(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runBinaryFor(t, dir, 20*time.Second, args...)
}

func TestDefaultConfFile(t *testing.T) {
	if _, err := os.Stat("/etc/nutcracker/nutcracker.yml"); err == nil {
		t.Skip("/etc/nutcracker/nutcracker.yml exists on this host")
	}
	dir := t.TempDir()
	code, _, errOut := runBinaryIn(t, dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "ferry: no configuration file: -c was not given and none of conf/nutcracker.yml, "+
		"/etc/nutcracker/nutcracker.yml exists; pass one with -c FILE\n")
	// in a checkout of ferry the example is named
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "conf"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conf", "ferry.yml"), nil, 0o644))
	_, _, errOut = runBinaryIn(t, dir, "-t")
	assert.Contains(t, errOut, "pass one with -c FILE (in ferry's repository: -c conf/ferry.yml)")

	// As Debian's init script checks: -t with -d appended checks and exits.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conf", "nutcracker.yml"),
		[]byte("alpha:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:11211:1\n"), 0o644))
	for _, args := range [][]string{{"-t", "-d"}, {"-dt"}} {
		code, out, errOut := runBinaryIn(t, dir, args...)
		assert.Equal(t, 0, code, errOut)
		assert.Equal(t, "ferry: configuration file 'conf/nutcracker.yml' syntax is ok\n", out)
	}
}

// daemon is one ferry started with -d, as the acceptance line runs it.
type daemon struct {
	dir                  string
	conf, log, pid       string // as passed: relative to dir or absolute
	listen, stats        int
	code                 int
	stderr               string
	daemonPid, parentPid int
}

func (d *daemon) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

// start runs the parent to completion, as an init script does.
func (d *daemon) start(t *testing.T, extra ...string) {
	args := append([]string{"-d", "-c", d.conf, "-o", d.log, "-p", d.pid, "-s", strconv.Itoa(d.stats),
		"-a", "127.0.0.1", "-v", "6", "-m", "512", "-i", "1000"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, args...)
	cmd.Dir = d.dir
	var e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &e, &e
	err := cmd.Run()
	d.stderr = e.String()
	if cmd.ProcessState != nil {
		d.parentPid = cmd.ProcessState.Pid()
		d.code = cmd.ProcessState.ExitCode()
	} else {
		d.code = -1
		t.Errorf("ferry -d: %v", err)
	}
	if ctx.Err() != nil {
		t.Errorf("ferry %v: the parent did not exit", args)
	}
}

// killStrayDaemons kills, at the end of the test, every ferryBin process
// whose command line or working directory is under dir: daemons are not
// children of the test, so testutil cannot reap them.
func killStrayDaemons(t *testing.T, dir string) {
	t.Cleanup(func() {
		for _, pid := range daemonsUnder(dir) {
			t.Logf("killing daemon %d left behind", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func daemonsUnder(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !processAlive(pid) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.HasPrefix(cmdline, []byte(ferryBin+"\x00")) {
			continue
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if bytes.Contains(cmdline, []byte(dir)) || strings.HasPrefix(cwd, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processAlive: the pid exists and is not a zombie (an exited daemon is
// reaped by init, which may take a moment).
func processAlive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	return i > 0 && i+2 < len(st) && st[i+2] != 'Z'
}

// sessionOf returns the session id of pid from /proc/pid/stat.
func sessionOf(t *testing.T, pid int) int {
	t.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+2:])) // state ppid pgrp session ...
	sid, err := strconv.Atoi(f[3])
	require.NoError(t, err)
	return sid
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err, "pid file")
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err, "pid file %q", b)
	return pid
}

func fileContains(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}

// The acceptance line of issue 7: three daemons from twemproxy's flags
// only (no --admin), on one host at once.
func TestDaemonThreeInstances(t *testing.T) {
	r1, r2, mc := testutil.StartRedis(t), testutil.StartRedis(t), testutil.StartMemcached(t)
	ds := make([]*daemon, 3)
	for i := range ds {
		d := &daemon{dir: t.TempDir(), listen: testutil.FreePort(t), stats: testutil.FreePort(t)}
		killStrayDaemons(t, d.dir)
		var conf string
		switch i {
		case 0: // relative paths: the daemon keeps its working directory
			d.conf, d.log, d.pid = "ferry.yml", "ferry.log", "ferry.pid"
			conf = fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(d.listen), r1.Addr)
		case 1:
			d.conf, d.log, d.pid = filepath.Join(d.dir, "mc.yml"), filepath.Join(d.dir, "mc.log"), filepath.Join(d.dir, "mc.pid")
			conf = fmt.Sprintf("beta:\n  listen: %s\n  servers:\n   - %s:1\n", loop(d.listen), mc.Addr)
		case 2:
			d.conf, d.log, d.pid = filepath.Join(d.dir, "two.yml"), "two.log", filepath.Join(d.dir, "run", "two.pid")
			require.NoError(t, os.Mkdir(filepath.Join(d.dir, "run"), 0o755))
			conf = fmt.Sprintf("gamma:\n  listen: %s\n  redis: true\n  hash: fnv1a_64\n  distribution: ketama\n"+
				"  servers:\n   - %s:1 a\n   - %s:1 b\n", loop(d.listen), r1.Addr, r2.Addr)
		}
		require.NoError(t, os.WriteFile(d.path(d.conf), []byte(conf), 0o644))
		ds[i] = d
	}

	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() { d.start(t) })
	}
	wg.Wait()

	adminBound, adminWarned := 0, 0
	for i, d := range ds {
		require.Equal(t, 0, d.code, "instance %d: %s", i, d.stderr)
		assert.Empty(t, d.stderr, "instance %d", i)
		// Once the parent has exited, the daemon serves: no waiting here.
		d.daemonPid = readPid(t, d.path(d.pid))
		assert.True(t, processAlive(d.daemonPid), "instance %d: pid %d", i, d.daemonPid)
		assert.NotEqual(t, d.parentPid, d.daemonPid)
		assert.Equal(t, d.daemonPid, sessionOf(t, d.daemonPid), "the daemon leads its own session")
		assert.True(t, fileContains(d.path(d.log), "msg=\"ferry started\""), "instance %d log", i)
		assert.Equal(t, []string{os.DevNull, d.path(d.log), d.path(d.log)}, stdFiles(t, d.daemonPid))

		doc := readAllFrom(t, loop(d.stats))
		var top map[string]any
		require.NoError(t, json.Unmarshal(doc, &top), "instance %d stats: %s", i, doc)
		assert.Equal(t, "ferry", top["service"])
		assert.Contains(t, top, []string{"alpha", "beta", "gamma"}[i])

		if i == 1 {
			c := testutil.RawConn(t, loop(d.listen))
			c.SendString("set k 0 0 2\r\nv1\r\nget k\r\n")
			for _, want := range []string{"STORED", "VALUE k 0 2", "v1", "END"} {
				line, err := c.ReadLine()
				require.NoError(t, err)
				assert.Equal(t, want, line)
			}
			c.Close()
		} else {
			_, err := testutil.RedisDo(loop(d.listen), "SET", "k"+strconv.Itoa(i), "v")
			require.NoError(t, err)
			reply, err := testutil.RedisDo(loop(d.listen), "GET", "k"+strconv.Itoa(i))
			require.NoError(t, err)
			assert.Equal(t, "$1\r\nv\r\n", string(reply), "instance %d", i)
		}
		logText, _ := os.ReadFile(d.path(d.log))
		if strings.Contains(string(logText), `msg="admin HTTP listening" addr=`+defaultAdminAddrOf(t)) {
			adminBound++
		}
		adminWarned += strings.Count(string(logText), "is taken (another ferry on this host?)")
	}
	// At most one instance holds the default admin address; every other
	// one said once that it skipped it.
	assert.LessOrEqual(t, adminBound, 1)
	assert.Equal(t, 3, adminBound+adminWarned)

	for _, d := range ds {
		require.NoError(t, syscall.Kill(d.daemonPid, syscall.SIGTERM))
	}
	for i, d := range ds {
		assert.Eventually(t, func() bool { return !processAlive(d.daemonPid) }, 10*time.Second, 10*time.Millisecond,
			"instance %d did not exit on SIGTERM", i)
		assert.Eventually(t, func() bool { _, err := os.Stat(d.path(d.pid)); return os.IsNotExist(err) },
			5*time.Second, 10*time.Millisecond, "instance %d pid file left", i)
		assert.True(t, fileContains(d.path(d.log), "signal SIGTERM received, exiting"))
		assert.Empty(t, daemonsUnder(d.dir))
	}
}

// stdFiles returns what descriptors 0, 1 and 2 of pid are open on.
func stdFiles(t *testing.T, pid int) []string {
	t.Helper()
	var fs []string
	for fd := range 3 {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		require.NoError(t, err)
		fs = append(fs, l)
	}
	return fs
}

// Without -o a daemon's log goes to /dev/null, as nutcracker's: the
// command prints nothing when the start succeeds.
func TestDaemonWithoutLogFile(t *testing.T) {
	redis := testutil.StartRedis(t)
	d := &daemon{dir: t.TempDir(), listen: testutil.FreePort(t), stats: testutil.FreePort(t), conf: "c.yml", pid: "c.pid"}
	killStrayDaemons(t, d.dir)
	require.NoError(t, os.WriteFile(d.path(d.conf), []byte(fmt.Sprintf(
		"alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(d.listen), redis.Addr)), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, "-d", "-c", d.conf, "-p", d.pid, "-s", strconv.Itoa(d.stats), "--admin", "off")
	cmd.Dir = d.dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, string(out))
	pid := readPid(t, d.path(d.pid))
	assert.Equal(t, []string{os.DevNull, os.DevNull, os.DevNull}, stdFiles(t, pid))
	reply, err := testutil.RedisDo(loop(d.listen), "PING")
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", string(reply))
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	assert.Eventually(t, func() bool { return !processAlive(pid) }, 10*time.Second, 10*time.Millisecond)
	assert.Eventually(t, func() bool { _, err := os.Stat(d.path(d.pid)); return os.IsNotExist(err) },
		5*time.Second, 10*time.Millisecond)
}

// defaultAdminAddrOf is ferryBin's default admin address.
func defaultAdminAddrOf(t *testing.T) string {
	t.Helper()
	require.NotEmpty(t, testDefaultAdmin)
	return testDefaultAdmin
}

func TestDaemonStartFailures(t *testing.T) {
	redis := testutil.StartRedis(t)
	// A bad configuration: found by the parent, before anything forks.
	d := &daemon{dir: t.TempDir(), stats: testutil.FreePort(t), conf: "bad.yml", log: "bad.log", pid: "bad.pid"}
	killStrayDaemons(t, d.dir)
	require.NoError(t, os.WriteFile(d.path(d.conf), []byte("alpha:\n  listen: 127.0.0.1:1\n  bogus: 1\n"+
		"  servers:\n   - 127.0.0.1:1:1\n"), 0o644))
	d.start(t)
	assert.Equal(t, 1, d.code)
	assert.Contains(t, d.stderr, "ferry: configuration file 'bad.yml' syntax is invalid\n")
	assert.Contains(t, d.stderr, "bad.yml:3:")

	// A start failure in the daemon itself (its pool address is taken):
	// the parent relays the daemon's error and exits 1; nothing is left.
	d = &daemon{dir: t.TempDir(), stats: testutil.FreePort(t), listen: busyPort(t), conf: "c.yml", log: "c.log", pid: "c.pid"}
	killStrayDaemons(t, d.dir)
	require.NoError(t, os.WriteFile(d.path(d.conf), []byte(fmt.Sprintf(
		"alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(d.listen), redis.Addr)), 0o644))
	d.start(t, "--admin", "off")
	assert.Equal(t, 1, d.code)
	assert.Contains(t, d.stderr, "ferry: cannot start:")
	assert.Contains(t, d.stderr, "address already in use")
	assert.NoFileExists(t, d.path(d.pid))
	assert.Empty(t, daemonsUnder(d.dir))

	// An explicit admin address that is taken fails the daemon's start too.
	d = &daemon{dir: t.TempDir(), stats: testutil.FreePort(t), listen: testutil.FreePort(t), conf: "a.yml", log: "a.log", pid: "a.pid"}
	killStrayDaemons(t, d.dir)
	require.NoError(t, os.WriteFile(d.path(d.conf), []byte(fmt.Sprintf(
		"alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(d.listen), redis.Addr)), 0o644))
	d.start(t, "--admin", loop(busyPort(t)))
	assert.Equal(t, 1, d.code)
	assert.Contains(t, d.stderr, "ferry: cannot start: admin HTTP")
	assert.Empty(t, daemonsUnder(d.dir))
}

// holdDefaultAdmin makes sure ferryBin's default admin address is taken
// for the rest of the test.
func holdDefaultAdmin(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", defaultAdminAddrOf(t))
	if err != nil {
		t.Logf("default admin address already taken: %v", err)
		return
	}
	t.Cleanup(func() { ln.Close() })
}

func TestDefaultAdminTakenIsSkipped(t *testing.T) {
	redis := testutil.StartRedis(t)
	holdDefaultAdmin(t)
	listen, stats := testutil.FreePort(t), testutil.FreePort(t)
	conf := writeConf(t, fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(listen), redis.Addr))
	logFile := filepath.Join(t.TempDir(), "ferry.log")
	p := testutil.StartProcessWith(t, testutil.ProcOptions{
		Path: ferryBin, Args: []string{"-c", conf, "-s", strconv.Itoa(stats), "-o", logFile},
		WaitAddr: loop(listen), ExtraWaitAddrs: []string{loop(stats)}, ExtraLogs: []string{logFile},
	})
	reply, err := testutil.RedisDo(loop(listen), "PING")
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", string(reply))
	assert.Equal(t, 2, listeningSockets(t, p.Pid()), "the pool and the stats port, no admin HTTP")
	logText, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(logText), "level=WARN msg=\"default admin HTTP address "+
		defaultAdminAddrOf(t)+" is taken (another ferry on this host?): running without admin HTTP "+
		"(/metrics, /stats, /healthz); give each instance its own with --admin ADDR, or --admin off to silence this\""),
		"%s", logText)
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.NoError(t, p.WaitExit(10*time.Second))

	// A daemon without -o says it on the starting terminal, and nothing else.
	dir := t.TempDir()
	killStrayDaemons(t, dir)
	pidFile := filepath.Join(dir, "ferry.pid")
	code, out, errOut := runBinaryIn(t, dir, "-d", "-c", conf, "-s", strconv.Itoa(stats), "-p", pidFile)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, out)
	assert.Regexp(t, `^time=\S+ level=WARN msg="default admin HTTP address \S+ is taken [^\n]*\n$`, errOut)
	pid := readPid(t, pidFile)
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	assert.Eventually(t, func() bool { return !processAlive(pid) }, 10*time.Second, 10*time.Millisecond)

	// The same address given with --admin is a start failure.
	code, _, errOut = runBinary(t, "-c", conf, "-s", "0", "--admin", defaultAdminAddrOf(t))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "ferry: cannot start: admin HTTP: listen tcp "+defaultAdminAddrOf(t))
	// A taken stats port is still an error when the admin default is skipped.
	code, _, errOut = runBinary(t, "-c", conf, "-s", strconv.Itoa(busyPort(t)), "-a", testutil.Loopback)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "ferry: cannot start: stats port")
}

func waitLog(t *testing.T, path, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return fileContains(path, s) }, 10*time.Second, 5*time.Millisecond,
		"%s never got %q", path, s)
}

func TestSignalsLoggedByName(t *testing.T) {
	noCoreDumps(t)
	redis := testutil.StartRedis(t)
	listen := testutil.FreePort(t)
	conf := writeConf(t, fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(listen), redis.Addr))
	dir := t.TempDir()
	logFile := filepath.Join(dir, "ferry.log")
	p := testutil.StartProcessWith(t, testutil.ProcOptions{
		Path: ferryBin, Args: []string{"-c", conf, "-s", "0", "--admin", "off", "-o", logFile, "-v", "6"},
		WaitAddr: loop(listen), ExtraLogs: []string{logFile},
	})
	// logrotate's way: move the file, then SIGHUP; the line goes to the
	// old file, what follows to a new one.
	rotated := logFile + ".1"
	require.NoError(t, os.Rename(logFile, rotated))
	require.NoError(t, p.Signal(syscall.SIGHUP))
	waitLog(t, rotated, `level=WARN msg="signal SIGHUP received, reopening log file" signo=1`)
	require.NoError(t, p.Signal(syscall.SIGTTIN))
	waitLog(t, logFile, `msg="signal SIGTTIN received, up logging level" signo=21 level=DEBUG`)
	require.NoError(t, p.Signal(syscall.SIGTTOU))
	waitLog(t, logFile, `msg="signal SIGTTOU received, down logging level" signo=22 level=INFO`)
	// down to errors only, and one more: still logged. Signals of a kind
	// that are pending together merge, so one at a time.
	for n := 2; n <= 4; n++ {
		require.NoError(t, p.Signal(syscall.SIGTTOU))
		require.Eventually(t, func() bool {
			b, _ := os.ReadFile(logFile)
			return strings.Count(string(b), "signal SIGTTOU received") == n
		}, 10*time.Second, 5*time.Millisecond)
	}
	assert.True(t, fileContains(logFile, "down logging level\" signo=22 level=ERROR"))
	require.NoError(t, p.Signal(syscall.SIGUSR1))
	waitLog(t, logFile, `msg="signal SIGUSR1 received, reloading configuration" signo=10`)
	reply, err := testutil.RedisDo(loop(listen), "PING")
	require.NoError(t, err, "still serving after the signals")
	assert.Equal(t, "+PONG\r\n", string(reply))

	// SIGSEGV: logged with the stacks, then a death by SIGSEGV.
	require.NoError(t, p.Signal(syscall.SIGSEGV))
	err = p.WaitExit(10 * time.Second)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	ws := ee.Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled(), "exit status %v", err)
	assert.Equal(t, syscall.SIGSEGV, ws.Signal())
	waitLog(t, logFile, `level=WARN msg="signal SIGSEGV received, core dumping" signo=11`)
	assert.True(t, fileContains(logFile, "\ngoroutine "), "the stacks follow the line")
}

// noCoreDumps sets RLIMIT_CORE to 0 for the processes the test starts
// (they inherit it), so a SIGSEGV leaves no core file.
func noCoreDumps(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_CORE, &lim))
	saved := lim
	lim.Cur = 0
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_CORE, &lim))
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_CORE, &saved) })
}
