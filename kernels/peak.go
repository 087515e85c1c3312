package kernels

import (
	"math"
	"sync/atomic"
	"time"
)

// FMAPeak measures the machine's floating-point peak: every one of threads
// goroutines runs the widest fused multiply-add loop the CPU has (no
// memory traffic, enough independent chains to fill the pipes) for about
// d, and the result is the total float32 GFLOP/s. Benchmarks quote their
// model FLOP/s as a share of it, a figure that carries across machines.
func FMAPeak(threads int, d time.Duration) (gflops float64, isa string) {
	const iters = 1 << 20
	threads = max(threads, 1)
	total := make([]float64, threads)
	names := make([]string, threads)
	start := time.Now()
	Run(threads, func(t int) {
		for time.Since(start) < d {
			f, name := fmaLoop(iters)
			total[t] += float64(f) * iters
			names[t] = name
		}
	})
	sec := time.Since(start).Seconds()
	var sum float64
	for _, v := range total {
		sum += v
	}
	return sum / sec / 1e9, names[0]
}

// peakSink keeps the generic loop's result live (atomic: every thread
// stores to it).
var peakSink atomic.Uint32

// fmaLoopGeneric is the pure-Go loop: 8 independent scalar FMA chains.
func fmaLoopGeneric(n int) int {
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	x, y := float32(0.999), float32(1e-7)
	for range n {
		a0 = float32(math.FMA(float64(x), float64(y), float64(a0)))
		a1 = float32(math.FMA(float64(x), float64(y), float64(a1)))
		a2 = float32(math.FMA(float64(x), float64(y), float64(a2)))
		a3 = float32(math.FMA(float64(x), float64(y), float64(a3)))
		a4 = float32(math.FMA(float64(x), float64(y), float64(a4)))
		a5 = float32(math.FMA(float64(x), float64(y), float64(a5)))
		a6 = float32(math.FMA(float64(x), float64(y), float64(a6)))
		a7 = float32(math.FMA(float64(x), float64(y), float64(a7)))
	}
	peakSink.Store(math.Float32bits(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7))
	return 16
}
