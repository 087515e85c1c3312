//go:build unix

// Package cputime reads the process's CPU time: on a shared machine, work
// per CPU-second is a steadier signal than wall-clock rates (waiting for a
// core is not counted). Benchmarks and the kernels' tuning tests use it.
package cputime

import (
	"syscall"
	"time"
)

// Process is the process's user+system CPU time (0 where it cannot be read).
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
