//go:build !unix

// Package cputime reads the process's CPU time (not measured here).
package cputime

import "time"

// Process is 0: CPU time is not measured on this platform.
func Process() time.Duration { return 0 }
