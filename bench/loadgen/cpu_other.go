//go:build !unix

package loadgen

import "time"

type cpuSample struct{ user, sys time.Duration }

func (a cpuSample) sub(b cpuSample) cpuSample { return cpuSample{a.user - b.user, a.sys - b.sys} }

// cpuTime is not measured on this platform.
func cpuTime() cpuSample { return cpuSample{} }
