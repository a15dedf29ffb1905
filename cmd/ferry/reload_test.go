package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// The configuration is reloaded from the -c file on SIGHUP, SIGUSR1 and
// POST /reload, while clients stay connected; a bad file changes nothing.
func TestReloadBySignalsAndHTTP(t *testing.T) {
	r1, r2 := testutil.StartRedis(t), testutil.StartRedis(t)
	alpha, beta, adminPort := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "ferry.yml")
	logFile := filepath.Join(dir, "ferry.log")
	one := fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1 r1\n", loop(alpha), r1.Addr)
	two := one + fmt.Sprintf("beta:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1 r2\n", loop(beta), r2.Addr)
	require.NoError(t, os.WriteFile(conf, []byte(one), 0o644))
	p := testutil.StartProcessWith(t, testutil.ProcOptions{
		Path: ferryBin, Args: []string{"-c", conf, "-s", "0", "--admin", loop(adminPort), "-o", logFile},
		WaitAddr: loop(alpha), ExtraWaitAddrs: []string{loop(adminPort)}, ExtraLogs: []string{logFile},
	})
	client := testutil.RawConn(t, loop(alpha)) // stays connected throughout
	ping := func() {
		t.Helper()
		r, err := client.Do("PING")
		require.NoError(t, err)
		require.Equal(t, "+PONG\r\n", string(r))
	}
	ping()

	// SIGHUP: beta is added
	require.NoError(t, os.WriteFile(conf, []byte(two), 0o644))
	require.NoError(t, p.Signal(syscall.SIGHUP))
	require.NoError(t, testutil.WaitForPort(loop(beta), 5*time.Second))
	waitLog(t, logFile, "pool beta added, listening on "+loop(beta))
	ping()

	// SIGUSR1 with a broken file: nothing changes, the error has file:line
	require.NoError(t, os.WriteFile(conf, []byte(strings.Replace(two, "  redis: true", "  redis: true\n  hsh: md5", 1)), 0o644))
	require.NoError(t, p.Signal(syscall.SIGUSR1))
	waitLog(t, logFile, "configuration reload failed, nothing changed")
	assert.True(t, fileContains(logFile, `ferry.yml:4: pool \"alpha\": key \"hsh\": unknown key`), "the error names file:line")
	reply, err := testutil.RedisDo(loop(beta), "PING")
	require.NoError(t, err, "beta still serves")
	assert.Equal(t, "+PONG\r\n", string(reply))

	// POST /reload: the bad file is refused with the errors...
	base := "http://" + loop(adminPort)
	var out struct {
		OK      bool     `json:"ok"`
		Changes []string `json:"changes"`
		Error   string   `json:"error"`
	}
	post := func() int {
		t.Helper()
		resp, err := http.Post(base+"/reload", "", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		out.OK, out.Changes, out.Error = false, nil, ""
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnprocessableEntity, post())
	assert.False(t, out.OK)
	assert.Contains(t, out.Error, `key "hsh": unknown key`)
	// ...and the fixed one (beta removed) applied, with what changed
	require.NoError(t, os.WriteFile(conf, []byte(one), 0o644))
	require.Equal(t, http.StatusOK, post())
	assert.True(t, out.OK)
	assert.Equal(t, []string{"pool beta removed"}, out.Changes)
	_, err = net.DialTimeout("tcp", loop(beta), time.Second)
	assert.Error(t, err, "beta's address stops accepting")
	ping()

	code, _, body := httpGet(t, base+"/metrics")
	require.Equal(t, 200, code)
	m := checkExposition(t, body)
	assert.Equal(t, 2.0, m[`ferry_config_reloads_total{result="ok"}`])
	assert.Equal(t, 2.0, m[`ferry_config_reloads_total{result="failed"}`])
	code, _, body = httpGet(t, base+"/config")
	require.Equal(t, 200, code)
	assert.Equal(t, one, body, "/config serves the file now running")
}

// A second copy started with the same configuration and pid file fails (its
// address is taken) and leaves the running instance's pid file alone: it
// wrote its own pid there, then removed the file on its way out, and init
// scripts lost the running process.
func TestFailedSecondStartKeepsPidFile(t *testing.T) {
	r := testutil.StartRedis(t)
	listen := testutil.FreePort(t)
	dir := t.TempDir()
	conf := writeConf(t, fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(listen), r.Addr))
	pid := filepath.Join(dir, "ferry.pid")
	p := testutil.StartProcessWith(t, testutil.ProcOptions{
		Path: ferryBin, Args: []string{"-c", conf, "-s", "0", "--admin", "off", "-p", pid}, WaitAddr: loop(listen),
	})
	want := fmt.Sprintf("%d\n", p.Pid())
	require.Eventually(t, func() bool { b, _ := os.ReadFile(pid); return string(b) == want }, 5*time.Second, 5*time.Millisecond)
	code, _, errOut := runBinary(t, "-c", conf, "-s", "0", "--admin", "off", "-p", pid)
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, "address already in use")
	b, err := os.ReadFile(pid)
	require.NoError(t, err, "the running instance's pid file is still there")
	assert.Equal(t, want, string(b))
}
