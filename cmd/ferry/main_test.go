package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// ferryBin is the ferry binary built once by TestMain for the tests that
// run it as a process (signals, exit codes, listeners).
var ferryBin string

// testDefaultAdmin is ferryBin's default admin address: a port of this
// test run's own, so that tests of the default are not disturbed by (and
// do not disturb) anything else using 22223 on the host.
var testDefaultAdmin string

// unusedLoopbackAddr returns a loopback address that was free a moment ago.
func unusedLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick the test default admin address: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ferryBin = filepath.Join(dir, "ferry")
	if testDefaultAdmin, err = unusedLoopbackAddr(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", ferryBin, "-ldflags",
		"-X main.version=9.9.9-test -X main.defaultAdminAddr="+testDefaultAdmin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build ferry:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runInProcess(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestHelpListsEveryFlag(t *testing.T) {
	code, out, _ := runInProcess("--help")
	require.Equal(t, 0, code)
	code2, out2, _ := runInProcess("-h")
	require.Equal(t, 0, code2)
	require.Equal(t, out, out2)

	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) {
		var re *regexp.Regexp
		if len(f.Name) == 1 {
			re = regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(f.Name) + `[, ]`)
		} else {
			re = regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(f.Name) + `( |$)`)
		}
		assert.Regexp(t, re, out, "--help does not explain -%s", f.Name)
	})
	for _, s := range []string{"22223", "22222", "127.0.0.1", "0.0.0.0", `"off"`, "/metrics", "/stats",
		"/healthz", "/config", "/debug/pprof/", "0 disables"} {
		assert.Contains(t, out, s)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:22223", o.adminAddr)
	assert.Equal(t, 22222, o.statsPort)
	assert.Equal(t, "127.0.0.1", o.statsAddr)
	assert.Equal(t, 30000, o.statsInterval)

	o, err = parseFlags([]string{"--admin", "off", "-s", "0", "-a", "0.0.0.0", "-i", "10"})
	require.NoError(t, err)
	assert.Equal(t, "", o.adminAddr)
	assert.Equal(t, 0, o.statsPort)
	assert.Equal(t, "0.0.0.0", o.statsAddr)
	assert.Equal(t, 10, o.statsInterval)

	o, err = parseFlags([]string{"--admin=", "--stats-port", "1234", "--stats-addr", "::1", "--stats-interval", "0"})
	require.NoError(t, err)
	assert.Equal(t, "", o.adminAddr)
	assert.Equal(t, 1234, o.statsPort)
	assert.Equal(t, "::1", o.statsAddr)

	for _, bad := range [][]string{{"-s", "-1"}, {"-s", "65536"}, {"-i", "-5"}, {"-s", "x"}} {
		_, err := parseFlags(bad)
		assert.Error(t, err, "%v", bad)
	}
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ferry.yml")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func loop(port int) string { return net.JoinHostPort(testutil.Loopback, strconv.Itoa(port)) }

// busyPort holds a loopback port for the rest of the test.
func busyPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// runBinary runs ferry to completion (it must exit within 10 s).
func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runBinaryFor(t, "", 10*time.Second, args...)
}

// runBinaryFor runs ferry in dir ("" = here) to completion, which must come
// within limit.
func runBinaryFor(t *testing.T, dir string, limit time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "ferry %v did not exit", args)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	}
	require.NoError(t, err)
	return 0, o.String(), e.String()
}

func TestTestConf(t *testing.T) {
	good := writeConf(t, "alpha:\n  listen: 127.0.0.1:1\n  redis: true\n  servers:\n   - 127.0.0.1:6379:1\n")
	bad := writeConf(t, "alpha:\n  listen: 127.0.0.1:1\n  bogus_key: 1\n  servers:\n   - 127.0.0.1:6379:1\n")
	// -t binds nothing: not even admin and stats addresses that are taken.
	busyAdmin, busyStats := busyPort(t), busyPort(t)
	listeners := []string{"--admin", loop(busyAdmin), "-s", strconv.Itoa(busyStats)}

	code, out, errOut := runBinary(t, append([]string{"-t", "-c", good}, listeners...)...)
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "syntax is ok")

	code, _, errOut = runBinary(t, append([]string{"-t", "-c", bad}, listeners...)...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, bad+":3:")
	assert.Contains(t, errOut, "bogus_key")

	code, _, errOut = runBinary(t, "--test-conf", "-c", filepath.Join(t.TempDir(), "missing.yml"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "missing.yml")
}

func httpGet(t *testing.T, url string) (int, string, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err, url)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// checkExposition parses the exposition with Prometheus' own parser and
// returns the counter and gauge samples as "name{labels}" -> value, the
// labels sorted by name as the parser gives them.
func checkExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err, text)
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
				}
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func readAllFrom(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	return b
}

func TestRunServesAdminAndStopsOnSIGTERM(t *testing.T) {
	redis := testutil.StartRedis(t)
	listen, adminPort, statsPort := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	confText := fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1 r1\n", loop(listen), redis.Addr)
	conf := writeConf(t, confText)
	p := testutil.StartProcessWith(t, testutil.ProcOptions{
		Path:           ferryBin,
		Args:           []string{"-c", conf, "--threads", "2", "--admin", loop(adminPort), "-s", strconv.Itoa(statsPort), "-a", testutil.Loopback, "-i", "1000"},
		WaitAddr:       loop(listen),
		ExtraWaitAddrs: []string{loop(adminPort), loop(statsPort)},
	})

	for i := range 5 {
		_, err := testutil.RedisDo(loop(listen), "SET", "k"+strconv.Itoa(i), "v")
		require.NoError(t, err)
	}
	reply, err := testutil.RedisDo(loop(listen), "GET", "k1")
	require.NoError(t, err)
	require.Equal(t, "$1\r\nv\r\n", string(reply))

	base := "http://" + loop(adminPort)
	code, ctype, body := httpGet(t, base+"/metrics")
	require.Equal(t, 200, code)
	assert.True(t, strings.HasPrefix(ctype, "text/plain; version=0.0.4; charset=utf-8"), ctype)
	m := checkExposition(t, body)
	srvLabels := fmt.Sprintf(`{addr="%s",pool="alpha",server="r1"}`, redis.Addr)
	assert.Equal(t, 6.0, m["ferry_server_requests_total"+srvLabels], body)
	assert.Equal(t, 6.0, m["ferry_server_responses_total"+srvLabels], body)
	assert.Equal(t, 2.0, m["ferry_event_loops"])
	assert.Equal(t, 1.0, m[`ferry_build_info{goversion="`+buildGoVersion(t, body)+`",version="9.9.9-test"}`])
	assert.Positive(t, m["process_resident_memory_bytes"])
	assert.Positive(t, m["go_goroutines"])

	code, _, body = httpGet(t, base+"/stats")
	require.Equal(t, 200, code)
	checkStatsDoc(t, []byte(body), redis.Addr)
	checkStatsDoc(t, readAllFrom(t, loop(statsPort)), redis.Addr)

	code, _, body = httpGet(t, base+"/healthz")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok", body)
	code, _, body = httpGet(t, base+"/config")
	assert.Equal(t, 200, code)
	assert.Equal(t, confText, body)
	code, _, _ = httpGet(t, base+"/debug/pprof/")
	assert.Equal(t, 200, code)

	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.NoError(t, p.WaitExit(10*time.Second), "exit status after SIGTERM")
	for _, a := range []string{loop(listen), loop(adminPort), loop(statsPort)} {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			c.Close()
		}
		assert.Error(t, err, "%s still accepts after ferry exited", a)
	}
}

// buildGoVersion digs the goversion label out of the exposition (the
// binary's Go may differ from the test's in principle).
func buildGoVersion(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`ferry_build_info\{goversion="([^"]*)",version="[^"]*"\}`).FindStringSubmatch(body)
	require.NotNil(t, m, body)
	return m[1]
}

func checkStatsDoc(t *testing.T, doc []byte, redisAddr string) {
	t.Helper()
	var top map[string]any
	require.NoError(t, json.Unmarshal(doc, &top), "%s", doc)
	assert.Equal(t, "ferry", top["service"])
	assert.Equal(t, "9.9.9-test", top["version"])
	host, _ := os.Hostname()
	assert.Equal(t, host, top["source"])
	for _, k := range []string{"uptime", "timestamp", "total_connections", "curr_connections"} {
		assert.IsType(t, float64(0), top[k], k)
	}
	pool, ok := top["alpha"].(map[string]any)
	require.True(t, ok, "%s", doc)
	for _, k := range []string{"client_eof", "client_err", "client_connections", "server_ejects", "forward_error", "fragments"} {
		assert.IsType(t, float64(0), pool[k], k)
	}
	srv, ok := pool["r1"].(map[string]any)
	require.True(t, ok, "%s", doc)
	for _, k := range []string{"server_eof", "server_err", "server_timedout", "server_connections", "server_ejected_at",
		"requests", "request_bytes", "responses", "response_bytes", "in_queue", "in_queue_bytes", "out_queue", "out_queue_bytes"} {
		assert.IsType(t, float64(0), srv[k], k)
	}
	assert.Equal(t, 6.0, srv["requests"])
	assert.Equal(t, 6.0, srv["responses"])
	assert.Positive(t, srv["request_bytes"])
}

func TestBindFailureIsStartFailure(t *testing.T) {
	redis := testutil.StartRedis(t)
	listen := testutil.FreePort(t)
	conf := writeConf(t, fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(listen), redis.Addr))
	busy := busyPort(t)

	code, _, errOut := runBinary(t, "-c", conf, "--admin", loop(busy), "-s", "0")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "ferry: cannot start: admin HTTP")
	assert.Contains(t, errOut, loop(busy))

	code, _, errOut = runBinary(t, "-c", conf, "--admin", "off", "-s", strconv.Itoa(busy), "-a", testutil.Loopback)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "ferry: cannot start: stats port")
	assert.Contains(t, errOut, loop(busy))
}

func TestAdminDisabled(t *testing.T) {
	redis := testutil.StartRedis(t)
	listen := testutil.FreePort(t)
	conf := writeConf(t, fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(listen), redis.Addr))
	p := testutil.StartProcessWith(t, testutil.ProcOptions{
		Path: ferryBin, Args: []string{"-c", conf, "--admin", "", "-s", "0"}, WaitAddr: loop(listen),
	})
	reply, err := testutil.RedisDo(loop(listen), "PING")
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", string(reply))
	// Only the pool's listener: count the process's listening TCP sockets.
	assert.Equal(t, 1, listeningSockets(t, p.Pid()))
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.NoError(t, p.WaitExit(10*time.Second))
}

// listeningSockets counts the TCP sockets in LISTEN state that pid has open.
func listeningSockets(t *testing.T, pid int) int {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && fs[3] == "0A" && inodes[fs[9]] { // 0A = LISTEN
				n++
			}
		}
	}
	return n
}
