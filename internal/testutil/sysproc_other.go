//go:build !linux

package testutil

import "syscall"

// sysProcAttr puts the child in its own process group so that the whole
// group can be signalled.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
