package main

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// kernelSigaction is the kernel's struct sigaction on 64-bit Linux
// (sa_restorer is absent on some architectures; with every field zero the
// layout difference does not matter).
type kernelSigaction struct {
	handler  uintptr // SIG_DFL = 0
	flags    uint64
	restorer uintptr
	mask     uint64
}

// dieBySignal ends the process by sig with its default action, as a crash
// would: the Go runtime keeps its own handler for SIGSEGV (signal.Reset
// does not remove it, and it turns a SIGSEGV sent by kill into exit status
// 2), so the default disposition is restored with rt_sigaction directly
// before the signal is raised. If the process survives that, it exits
// with the shell's 128+signal status.
func dieBySignal(sig syscall.Signal) {
	var act kernelSigaction
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	if errno == 0 {
		_ = syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second) // delivery is asynchronous
	}
	os.Exit(128 + int(sig))
}
