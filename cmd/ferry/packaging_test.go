package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// repoRoot is the repository's top directory, where the Makefile is.
const repoRoot = "../.."

// runCmd runs name with args (in dir, if not "") within two minutes and
// returns its combined output and exit status.
func runCmd(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "%s %v did not finish", name, args)
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	require.NoError(t, err, "%s %v", name, args)
	return out.String(), 0
}

func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "build") // not the repository's bin/
	prefix, sysconf := filepath.Join(root, "usr"), filepath.Join(root, "etc")
	out, code := runCmd(t, repoRoot, "make", "-s", "install", "BIN="+bin, "PREFIX="+prefix, "SYSCONFDIR="+sysconf)
	require.Equal(t, 0, code, out)

	binary, conf := filepath.Join(prefix, "bin", "ferry"), filepath.Join(sysconf, "ferry", "ferry.yml")
	unit := filepath.Join(prefix, "lib", "systemd", "system", "ferry.service")
	for path, mode := range map[string]os.FileMode{binary: 0o755, conf: 0o644, unit: 0o644,
		filepath.Join(prefix, "share", "doc", "ferry", "README.md"): 0o644} {
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, mode, st.Mode().Perm(), path)
	}
	unitText, err := os.ReadFile(unit)
	require.NoError(t, err)
	for _, line := range []string{
		"ExecStartPre=" + binary + " -t -c " + conf,
		"ExecStart=" + binary + " -c " + conf + " -v 5",
		"ProtectSystem=strict",
		"RuntimeDirectory=ferry",
	} {
		assert.Contains(t, string(unitText), "\n"+line+"\n")
	}
	out, code = runCmd(t, "", binary, "-t", "-c", conf)
	assert.Equal(t, 0, code, "the installed example configuration is valid: %s", out)

	t.Run("systemd-analyze verify", func(t *testing.T) {
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Skip("no systemd-analyze")
		}
		out, code := runCmd(t, "", "systemd-analyze", "verify", unit)
		assert.Equal(t, 0, code, out)
		assert.NotContains(t, out, "ferry.service", "systemd-analyze has something to say about the unit")
	})

	// Staged (DESTDIR): the unit names the final paths; a configuration
	// already installed is kept, the example goes beside it.
	stage := filepath.Join(root, "stage")
	mine := []byte("# the operator's own\n")
	require.NoError(t, os.MkdirAll(filepath.Join(stage, "etc", "ferry"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(stage, "etc", "ferry", "ferry.yml"), mine, 0o644))
	out, code = runCmd(t, repoRoot, "make", "-s", "install", "BIN="+bin, "DESTDIR="+stage)
	require.Equal(t, 0, code, out)
	assert.FileExists(t, filepath.Join(stage, "usr", "local", "bin", "ferry"))
	kept, err := os.ReadFile(filepath.Join(stage, "etc", "ferry", "ferry.yml"))
	require.NoError(t, err)
	assert.Equal(t, mine, kept)
	assert.FileExists(t, filepath.Join(stage, "etc", "ferry", "ferry.yml.example"))
	staged, err := os.ReadFile(filepath.Join(stage, "usr", "local", "lib", "systemd", "system", "ferry.service"))
	require.NoError(t, err)
	assert.Contains(t, string(staged), "\nExecStart=/usr/local/bin/ferry -c /etc/ferry/ferry.yml -v 5\n")
}

// TestDebianInitScript runs Debian's /etc/init.d/nutcracker, as the
// nutcracker package ships it, with ferry as its $DAEMON: start (it runs
// `$DAEMON -t $DAEMON_OPTS -d` then `$DAEMON $DAEMON_OPTS -d` through
// start-stop-daemon), status, reload (SIGHUP), stop. Only the paths that
// would touch the host are pointed into the test's directory, and the
// switch to the nutcracker user is dropped.
func TestDebianInitScript(t *testing.T) {
	const script = "/etc/init.d/nutcracker"
	orig, err := os.ReadFile(script)
	if err != nil {
		t.Skipf("no Debian nutcracker init script: %v", err)
	}
	for _, need := range []string{"start-stop-daemon", "sh"} {
		if _, err := exec.LookPath(need); err != nil {
			t.Skipf("no %s", need)
		}
	}
	if _, err := os.Stat("/lib/lsb/init-functions"); err != nil {
		t.Skip("no /lib/lsb/init-functions")
	}
	redis := testutil.StartRedis(t)
	dir := t.TempDir()
	killStrayDaemons(t, dir)
	conf, pid, logFile := filepath.Join(dir, "nutcracker.yml"), filepath.Join(dir, "pids", "nutcracker.pid"),
		filepath.Join(dir, "nutcracker.log")
	listen, stats := testutil.FreePort(t), testutil.FreePort(t)
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(
		"alpha:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", loop(listen), redis.Addr)), 0o644))
	defaults := filepath.Join(dir, "default")
	require.NoError(t, os.WriteFile(defaults, []byte(fmt.Sprintf(
		"DAEMON_OPTS=\"-c %s -p %s -o %s -s %d -a 127.0.0.1 --admin off\"\n", conf, pid, logFile, stats)), 0o644))

	text := string(orig)
	for _, r := range [][2]string{
		{"DAEMON=/usr/sbin/nutcracker\n", "DAEMON=" + ferryBin + "\n"},
		{"PIDFILE=/run/nutcracker/nutcracker.pid\n", "PIDFILE=" + pid + "\n"},
		{"CONFFILE=/etc/nutcracker/nutcracker.yml\n", "CONFFILE=" + conf + "\n"},
		{"[ -f /etc/default/$NAME ] && . /etc/default/$NAME", ". " + defaults},
		{"mkdir -p /run/nutcracker", "mkdir -p " + filepath.Dir(pid)},
		{"chown nutcracker:nutcracker /run/nutcracker", ":"},
		{"chmod 0755 /run/nutcracker", ":"},
		{"--chuid nutcracker", ""},
	} {
		if !strings.Contains(text, r[0]) {
			t.Skipf("%s differs from the script this test knows: no %q", script, r[0])
		}
		text = strings.ReplaceAll(text, r[0], r[1])
	}
	require.NotContains(t, text, "/run/nutcracker")
	require.NotContains(t, text, "/etc/nutcracker")
	initd := filepath.Join(dir, "nutcracker.init")
	require.NoError(t, os.WriteFile(initd, []byte(text), 0o755))

	out, code := runCmd(t, dir, "sh", initd, "start")
	require.Equal(t, 0, code, out)
	daemonPid := readPid(t, pid)
	require.True(t, processAlive(daemonPid))
	reply, err := testutil.RedisDo(loop(listen), "PING")
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", string(reply))

	out, code = runCmd(t, dir, "sh", initd, "status")
	assert.Equal(t, 0, code, out)
	out, code = runCmd(t, dir, "sh", initd, "start")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "already started")
	out, code = runCmd(t, dir, "sh", initd, "reload")
	assert.Equal(t, 0, code, out)
	waitLog(t, logFile, "signal SIGHUP received, reopening log file")

	out, code = runCmd(t, dir, "sh", initd, "stop")
	assert.Equal(t, 0, code, out)
	assert.False(t, processAlive(daemonPid), "start-stop-daemon --stop --retry 5 waits for the exit")
	assert.NoFileExists(t, pid)
	assert.True(t, fileContains(logFile, "signal SIGTERM received, exiting"))
	out, code = runCmd(t, dir, "sh", initd, "status")
	assert.NotEqual(t, 0, code, out)

	// A bad configuration fails the start, as the script's -t check says.
	require.NoError(t, os.WriteFile(conf, []byte("alpha:\n  bogus: 1\n"), 0o644))
	out, code = runCmd(t, dir, "sh", initd, "start")
	assert.Equal(t, 1, code, out)
	assert.Empty(t, daemonsUnder(dir))
}
