package kernels

import (
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
)

var threads atomic.Int32

func init() {
	n := runtime.GOMAXPROCS(0)
	if s := os.Getenv("GOLORA_THREADS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	threads.Store(int32(n))
}

// Threads is the number of goroutines kernels split work over.
// It defaults to GOMAXPROCS, or GOLORA_THREADS when set.
func Threads() int { return int(threads.Load()) }

// SetThreads sets the kernel thread count; n < 1 means 1.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	threads.Store(int32(n))
}
