package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// handledSignals are the signals ferry acts on, as nutcracker does
// (nc_signal.c), plus SIGTERM, which stops ferry cleanly where nutcracker
// just dies.
var handledSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGSEGV,
}

// signalNames spell signals as nutcracker's log does (Go's String() says
// "hangup").
var signalNames = map[os.Signal]string{
	syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP",
	syscall.SIGTTIN: "SIGTTIN", syscall.SIGTTOU: "SIGTTOU", syscall.SIGUSR1: "SIGUSR1",
	syscall.SIGUSR2: "SIGUSR2", syscall.SIGSEGV: "SIGSEGV",
}

// signalHandler carries out what a signal asks. Every signal is logged by
// name through sigLog, which no log level silences (nutcracker logs them
// with log_safe, whatever its verbosity).
type signalHandler struct {
	log     *slog.Logger // the level-filtered logger, for errors of an action
	sigLog  *slog.Logger // never filtered
	level   *slog.LevelVar
	logFile *reopenFile // nil when logging to stderr
	out     io.Writer   // the log's output, for the stacks of a SIGSEGV

	// reload reloads the configuration (SIGHUP after the log reopen, and
	// SIGUSR1): it validates the new file in full and applies it, changing
	// nothing when it fails.
	reload func(ctx context.Context, trigger string) error
}

// handle acts on sig and reports whether ferry must stop.
func (h *signalHandler) handle(sig os.Signal) (stop bool) {
	name := signalNames[sig]
	if name == "" {
		name = sig.String()
	}
	say := func(action string, attrs ...any) {
		h.sigLog.Warn("signal "+name+" received"+action, append([]any{"signo", int(sig.(syscall.Signal))}, attrs...)...)
	}
	switch sig {
	case syscall.SIGTTIN, syscall.SIGTTOU:
		// slog levels are 4 apart; debug is the most verbose, error the least
		l, action := h.level.Level()-4, ", up logging level"
		if sig == syscall.SIGTTOU {
			l, action = h.level.Level()+4, ", down logging level"
		}
		h.level.Set(max(slog.LevelDebug, min(slog.LevelError, l)))
		say(action, "level", h.level.Level().String())
	case syscall.SIGHUP:
		say(", reopening log file") // the reload logs its own outcome
		if h.logFile != nil {
			if err := h.logFile.Reopen(); err != nil {
				h.log.Error("reopen log file", "file", h.logFile.path, "err", err)
			}
		}
		h.reloadConfig(name)
	case syscall.SIGUSR1:
		say(", reloading configuration")
		h.reloadConfig(name)
	case syscall.SIGUSR2:
		say(", no action")
	case syscall.SIGSEGV:
		// Only a SIGSEGV sent with kill(2) gets here: a fault in Go code is
		// a run-time panic. End as the crash nutcracker raises: stacks in
		// the log, then death by SIGSEGV (a core where limits allow).
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		say(", core dumping")
		_, _ = h.out.Write(append(buf, '\n'))
		dieBySignal(syscall.SIGSEGV)
	default: // SIGTERM, SIGINT
		say(", exiting")
		return true
	}
	return false
}

func (h *signalHandler) reloadConfig(trigger string) {
	if h.reload == nil {
		return
	}
	if err := h.reload(context.Background(), trigger); err != nil {
		h.log.Error("configuration reload failed, nothing changed", "trigger", trigger, "err", err)
	}
}

// notifySignals starts delivering handledSignals to a channel.
func notifySignals() chan os.Signal {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, handledSignals...)
	return sigs
}
