package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/internal/cputime"
)

// BenchmarkKernel times the micro-kernel alone on L1-resident panels:
// the ceiling the blocked GEMM can approach on one core.
func BenchmarkKernel(b *testing.B) {
	k := kc
	a := make([]float32, k*maxMR)
	bp := make([]float32, k*maxNR)
	c := make([]float32, maxMR*maxNR)
	for i := range a {
		a[i] = 1e-3
	}
	for i := range bp {
		bp[i] = 1e-3
	}
	for _, impl := range impls() {
		b.Run(impl, func(b *testing.B) {
			selectImpl(impl)
			defer selectImpl("")
			ge := pickGeom()
			cpu0 := cputime.Process()
			for b.Loop() {
				ge.kernel(k, a, bp, c, ge.nr, 1)
			}
			flops := 2 * float64(ge.mr*ge.nr*k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
		})
		// The 4-row edge kernel, on the same panels (rows 0-3 of each A
		// step), where the CPU has one.
		selectImpl(impl)
		ge := pickGeom()
		selectImpl("")
		if ge.kernel4 == nil {
			continue
		}
		b.Run(impl+"/edge4", func(b *testing.B) {
			selectImpl(impl)
			defer selectImpl("")
			ge := pickGeom()
			for b.Loop() {
				ge.kernel4(k, a, ge.mr, bp, c, ge.nr, 1)
			}
			b.ReportMetric(2*float64(4*ge.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkBlocking sweeps the cache block sizes (kc, mc, ncPerThread) on
// the transformer's products at Threads(), interleaved so load from other
// processes hits every setting: how kc and ncPerThread were chosen.
func BenchmarkBlocking(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	shapes := []struct {
		M, N, K int
		transB  bool
	}{
		{1024, 3072, 768, true},  // mlp up forward, x·Wᵀ
		{1024, 768, 3072, false}, // mlp down backward, dx = dy·W
		{1024, 768, 2048, false}, // Llama's mlp down backward
		{256, 50257, 768, true},  // lm head forward, one chunk
		{256, 768, 50257, false}, // lm head backward
	}
	defer func(k, m, n int) { kc, mc, ncPerThread = k, m, n }(kc, mc, ncPerThread)
	for round := 0; round < 2; round++ {
		for _, cfg := range [][3]int{{256, 264, 1536}, {384, 264, 1024}, {384, 132, 1024}, {512, 132, 768}} {
			for _, s := range shapes {
				g := newGemm(rng, false, s.transB, s.M, s.N, s.K, 1, 0, 0)
				b.Run(fmt.Sprintf("kc=%d/mc=%d/nc=%d/%dx%dx%d/tB=%v", cfg[0], cfg[1], cfg[2], s.M, s.N, s.K, s.transB), func(b *testing.B) {
					kc, mc, ncPerThread = cfg[0], cfg[1], cfg[2]
					g.run(Threads())
					for b.Loop() {
						g.run(Threads())
					}
					b.ReportMetric(2*float64(s.M*s.N*s.K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
