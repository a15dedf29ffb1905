package main

import "syscall"

// childAttr makes a child die with the suite (SIGKILL when the suite's
// thread that started it exits), so a killed suite leaves no servers behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
