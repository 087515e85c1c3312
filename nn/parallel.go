package nn

import "github.com/golora/golora/kernels"

// parallelFor splits [0, n) into at most kernels.Threads() contiguous
// ranges of at least grain items and runs fn on each (kernels.For: the
// persistent workers, so short ops in a decode step pay no goroutine start).
func parallelFor(n, grain int, fn func(lo, hi int)) { kernels.For(n, grain, fn) }
