//go:build !linux

package main

import (
	"os"
	"syscall"
)

// dieBySignal exits with the shell's status for a death by sig.
func dieBySignal(sig syscall.Signal) { os.Exit(128 + int(sig)) }
