package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// Daemonizing. Go cannot fork a running process safely (its threads would
// not follow), so -d re-executes the binary as a child in a new session,
// with stdin on /dev/null and stdout/stderr on /dev/null or, with -o, the
// log file (so a Go runtime crash lands there). The child finds the write
// end of a pipe on the descriptor named by daemonPipeEnv. Until it serves,
// its start errors go up the pipe, and so do its warnings when there is
// no -o (its log goes to -o or to /dev/null);
// once every listener is bound and the pid file is written it sends
// readyMarker and closes the pipe. The parent relays what
// it read to its own stderr and exits 0 after the marker, or 1 when the
// pipe closed without one (the child exited). Like nutcracker, the daemon
// does not chdir, so relative -c, -o and -p paths keep their meaning.

// daemonPipeEnv names the child's pipe descriptor; it is removed from the
// child's environment at once.
const daemonPipeEnv = "FERRY_DAEMON_PIPE_FD"

// readyMarker ends the child's report when it serves; the NUL keeps it
// apart from any log text.
var readyMarker = []byte("\x00ok\n")

// daemonize starts the daemon child with the same arguments and waits
// until it serves or fails. It returns the parent's exit status.
func daemonize(args []string, o *options, stderr io.Writer) int {
	exe := "/proc/self/exe" // the running binary, even if replaced on disk since
	if runtime.GOOS != "linux" {
		var err error
		if exe, err = os.Executable(); err != nil {
			fmt.Fprintf(stderr, "ferry: daemonize: %v\n", err)
			return 1
		}
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: daemonize: %v\n", err)
		return 1
	}
	defer devNull.Close()
	out := devNull
	if o.output != "" {
		lf, err := os.OpenFile(o.output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "ferry: log file: %v\n", err)
			return 1
		}
		defer lf.Close()
		out = lf
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "ferry: daemonize: %v\n", err)
		return 1
	}
	defer r.Close()
	cmd := exec.Command(exe)
	cmd.Args = append([]string{os.Args[0]}, args...) // ps shows what the user ran
	cmd.Env = append(os.Environ(), daemonPipeEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, out, out
	cmd.ExtraFiles = []*os.File{w} // descriptor 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close() // the child holds the only write end now
	if err != nil {
		fmt.Fprintf(stderr, "ferry: daemonize: %v\n", err)
		return 1
	}
	report, _ := io.ReadAll(r)
	if msg, ok := bytes.CutSuffix(report, readyMarker); ok {
		stderr.Write(msg)
		_ = cmd.Process.Release()
		return 0
	}
	stderr.Write(report)
	werr := cmd.Wait()
	if len(report) == 0 {
		fmt.Fprintf(stderr, "ferry: the daemon exited before it was serving (%v)\n", werr)
	}
	return 1
}

// startReport is the daemon child's stderr for start errors: up the pipe
// to the parent until ready, then rest, the descriptor the parent gave
// (/dev/null or the log file). Safe for concurrent use.
type startReport struct {
	mu   sync.Mutex
	pipe *os.File // nil once ready
	rest io.Writer
}

// daemonChild returns the report of a daemon child, or nil when this
// process is not one (no -d, or not started by daemonize).
func daemonChild(o *options) *startReport {
	v, ok := os.LookupEnv(daemonPipeEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(daemonPipeEnv)
	fd, err := strconv.Atoi(v)
	if !o.daemonize || err != nil || fd < 3 {
		return nil
	}
	return &startReport{pipe: os.NewFile(uintptr(fd), "daemon-report"), rest: os.Stderr}
}

func (s *startReport) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipe != nil {
		return s.pipe.Write(b)
	}
	return s.rest.Write(b)
}

// ready tells the parent the daemon serves; later writes go to rest.
func (s *startReport) ready() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pipe == nil {
		return
	}
	_, _ = s.pipe.Write(readyMarker)
	_ = s.pipe.Close()
	s.pipe = nil
}
