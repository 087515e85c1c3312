//go:build !unix

package main

import "time"

// cpuTime is not measured here (0: rates per CPU-second are left out).
func cpuTime() time.Duration { return 0 }
