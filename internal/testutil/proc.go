package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
)

// DefaultStartTimeout bounds how long a Start* helper waits for a process to
// accept connections.
const DefaultStartTimeout = 10 * time.Second

// logTailLines is how many lines of each log are printed for a failed test.
const logTailLines = 40

// Proc is a child process started by one of the Start* helpers. It is killed
// (with its whole process group) when the test that started it ends.
type Proc struct {
	Name      string   // base name of the binary, e.g. "redis-server"
	Path      string   // resolved path of the binary
	Args      []string // command-line arguments (without argv[0])
	Addr      string   // "127.0.0.1:port" it serves on ("" if it was started without a wait address)
	Port      int      // port of Addr
	StatsAddr string   // nutcracker only: the stats listener
	Dir       string   // working / data directory, under t.TempDir()
	LogFile   string   // stdout+stderr of the process (appended to across restarts)

	opts ProcOptions
	logs []string // files tailed on failure

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd has been reaped
	waitErr error
	killed  bool // the current run was ended by Kill
	starts  int
	swept   bool // group of a self-exited leader already swept
}

// ProcOptions describes a process for StartProcessWith.
type ProcOptions struct {
	// Path is a binary name (looked up like RequireBinary: PATH, sbin dirs,
	// FERRY_TEST_BIN_<NAME>; the test is skipped if missing) or a path
	// containing a slash (the test fails if it does not exist).
	Path string
	Args []string
	// Env is appended to os.Environ().
	Env []string
	// Dir is the working directory; default: a fresh t.TempDir().
	Dir string
	// WaitAddr is a host:port to wait for after starting; "" means the
	// process counts as started as soon as it has been forked.
	WaitAddr string
	// ExtraWaitAddrs are more addresses to wait for (e.g. further pools).
	ExtraWaitAddrs []string
	// StartTimeout defaults to DefaultStartTimeout.
	StartTimeout time.Duration
	// ExtraLogs are further files (e.g. a log written by the process
	// itself) whose tails are printed when the test fails.
	ExtraLogs []string
}

// StartProcess starts name with args, waits until waitAddr ("" = don't
// wait) accepts TCP connections, and kills the process group at the end of
// the test. It is meant for the ferry binary itself and anything else that
// has no dedicated helper.
func StartProcess(t testing.TB, name string, args []string, waitAddr string) *Proc {
	t.Helper()
	return StartProcessWith(t, ProcOptions{Path: name, Args: args, WaitAddr: waitAddr})
}

// StartProcessWith is StartProcess with all options.
func StartProcessWith(t testing.TB, o ProcOptions) *Proc {
	t.Helper()
	var path string
	if strings.ContainsRune(o.Path, '/') {
		abs, err := filepath.Abs(o.Path)
		if err != nil {
			t.Fatalf("testutil: %v", err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("testutil: binary %s: %v", o.Path, err)
		}
		path = abs
	} else {
		path = RequireBinary(t, o.Path)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir() // before Cleanup below: LIFO => kill runs first
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	p := &Proc{
		Name:    filepath.Base(path),
		Path:    path,
		Args:    append([]string(nil), o.Args...),
		Addr:    o.WaitAddr,
		Dir:     o.Dir,
		LogFile: filepath.Join(o.Dir, filepath.Base(path)+".log"),
		opts:    o,
	}
	if o.WaitAddr != "" {
		if _, ps, err := net.SplitHostPort(o.WaitAddr); err == nil {
			p.Port, _ = strconv.Atoi(ps)
		}
	}
	p.logs = append([]string{p.LogFile}, o.ExtraLogs...)

	t.Cleanup(func() {
		p.mu.Lock()
		exitedOnOwn := false
		var werr error
		if p.done != nil {
			select {
			case <-p.done:
				exitedOnOwn = !p.killed
				werr = p.waitErr
			default:
			}
		}
		p.mu.Unlock()
		p.Kill()
		if exitedOnOwn {
			t.Logf("testutil: %s (%s) had exited on its own: %v", p.Name, p.Addr, exitOf(werr))
		}
		if t.Failed() {
			p.logTails(t)
		}
	})

	if err := p.start(); err != nil {
		t.Fatalf("testutil: start %s: %v", p.Name, err)
	}
	if err := p.waitReady(); err != nil {
		p.Kill() // the cleanup prints the log tail
		t.Fatalf("testutil: %s %s: %v", p.Name, strings.Join(p.Args, " "), err)
	}
	return p
}

func exitOf(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (p *Proc) start() error {
	lf, err := os.OpenFile(p.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close() // the child keeps its own descriptor
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	fmt.Fprintf(lf, "=== testutil: start #%d at %s: %s %s\n", p.starts,
		time.Now().Format(time.RFC3339Nano), p.Path, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.opts.Env...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed, p.waitErr, p.swept = cmd, done, false, nil, false
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		if p.cmd == cmd {
			p.waitErr = err
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *Proc) waitReady() error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	deadline := time.Now().Add(p.opts.StartTimeout)
	addrs := append([]string{}, p.opts.ExtraWaitAddrs...)
	if p.opts.WaitAddr != "" {
		addrs = append([]string{p.opts.WaitAddr}, addrs...)
	}
	for _, a := range addrs {
		if err := waitForPort(a, time.Until(deadline), done); err != nil {
			select {
			case <-done:
				p.mu.Lock()
				werr := p.waitErr
				p.mu.Unlock()
				return fmt.Errorf("exited before listening on %s (%s); see log %s", a, exitOf(werr), p.LogFile)
			default:
			}
			return err
		}
	}
	return nil
}

// Pid returns the pid of the current run (0 if never started).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the current run has not exited yet (a stopped
// process is running).
func (p *Proc) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the process group and waits until the process has
// been reaped. It is a no-op if the process has already exited.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return
	}
	pid := cmd.Process.Pid
	select {
	case <-done:
		// Exited on its own: sweep anything left in its group, once.
		if !p.swept {
			p.swept = true
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		p.mu.Unlock()
		return
	default:
	}
	p.killed = true
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	p.swept = true
	p.mu.Unlock()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Stop sends SIGSTOP to the process group: the process keeps its sockets
// but stops answering (a stalled backend). Signal delivery is asynchronous,
// so Stop then waits (up to 2s, via /proc on Linux) until every thread of the
// process is actually stopped. Kill works on a stopped process.
func (p *Proc) Stop() {
	if pid := p.signalGroup(syscall.SIGSTOP); pid > 0 {
		waitThreads(pid, true)
	}
}

// Cont sends SIGCONT to the process group, resuming a Stop'ped process, and
// waits until its threads are no longer stopped.
func (p *Proc) Cont() {
	if pid := p.signalGroup(syscall.SIGCONT); pid > 0 {
		waitThreads(pid, false)
	}
}

func (p *Proc) signalGroup(sig syscall.Signal) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0
	default:
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, sig)
	return pid
}

// waitThreads polls /proc/pid/task/*/stat until all threads are (stopped)
// or none is (!stopped) in job-control stop. Without /proc it returns at once.
func waitThreads(pid int, stopped bool) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return
		}
		done := true
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // thread exited
			}
			// "tid (comm) S ...": comm may contain spaces/parens.
			i := bytes.LastIndexByte(b, ')')
			if i < 0 || i+2 >= len(b) {
				continue
			}
			if st := b[i+2]; (st == 'T') != stopped {
				done = false
				break
			}
		}
		if done {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Signal sends sig to the process itself (not its group), e.g. SIGTERM to
// test a graceful shutdown; see WaitExit.
func (p *Proc) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errors.New("not started")
	}
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return p.cmd.Process.Signal(sig)
}

// WaitExit waits up to timeout for the current run to exit and returns its
// exit error (nil for status 0). It returns an error mentioning the timeout
// if the process is still running.
func (p *Proc) WaitExit(timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return errors.New("not started")
	}
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.Name, timeout)
	}
}

// Restart kills the process if it is still running, starts it again with the
// same arguments (so on the same port, with the same data directory) and
// waits until it accepts connections again.
func (p *Proc) Restart(t testing.TB) {
	t.Helper()
	p.Kill()
	if err := p.start(); err != nil {
		t.Fatalf("testutil: restart %s: %v", p.Name, err)
	}
	if err := p.waitReady(); err != nil {
		p.Kill() // the cleanup prints the log tail
		t.Fatalf("testutil: restart %s: %v", p.Name, err)
	}
}

// LogTail returns the last n lines of the process's log files.
func (p *Proc) LogTail(n int) string {
	var b strings.Builder
	for _, f := range p.logs {
		fmt.Fprintf(&b, "--- %s ---\n%s", f, tailFile(f, n))
	}
	return b.String()
}

func (p *Proc) logTails(t testing.TB) {
	t.Helper()
	t.Logf("testutil: last %d log lines of %s (pid %d, %s):\n%s", logTailLines, p.Name, p.Pid(), p.Addr, p.LogTail(logTailLines))
}

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)\n", err)
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// sbinDirs are searched after PATH: nutcracker lives in /usr/sbin, which is
// often not on a non-root PATH.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"}

// LookBinary resolves a binary name: $FERRY_TEST_BIN_<NAME> (upper case,
// '-' and '.' as '_'), then PATH, then the usual sbin directories.
func LookBinary(name string) (string, error) {
	env := "FERRY_TEST_BIN_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
	if v := os.Getenv(env); v != "" {
		if _, err := os.Stat(v); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, v, err)
		}
		return v, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %s (set %s)", name, strings.Join(sbinDirs, ", "), env)
}

// RequireBinary returns the path of the named binary, skipping the test (or
// failing it, when FERRY_TEST_REQUIRE_BINARIES=1) if it is not installed.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := LookBinary(name)
	if err != nil {
		if os.Getenv("FERRY_TEST_REQUIRE_BINARIES") == "1" {
			t.Fatalf("testutil: required binary missing: %v", err)
		}
		t.Skipf("testutil: skipping, %v", err)
	}
	return p
}
