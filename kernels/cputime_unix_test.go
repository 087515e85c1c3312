//go:build unix

package kernels

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time. On a shared machine, work
// per CPU-second is a steadier tuning signal than wall-clock rates.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
