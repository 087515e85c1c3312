package nn

import (
	"sync"

	"github.com/golora/golora/kernels"
)

// parallelFor splits [0, n) into at most kernels.Threads() contiguous
// ranges of at least grain items and runs fn on each, the last one on the
// calling goroutine. Small problems run inline: a goroutine costs about a
// microsecond.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	workers := min(kernels.Threads(), n/max(grain, 1))
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		if hi == n {
			fn(lo, hi)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
