//go:build unix

package loadgen

import (
	"syscall"
	"time"
)

type cpuSample struct{ user, sys time.Duration }

func (a cpuSample) sub(b cpuSample) cpuSample { return cpuSample{a.user - b.user, a.sys - b.sys} }

// cpuTime is this process's user and system CPU time (getrusage RUSAGE_SELF).
func cpuTime() cpuSample {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}
	}
	return cpuSample{
		user: time.Duration(ru.Utime.Nano()),
		sys:  time.Duration(ru.Stime.Nano()),
	}
}
