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

// BenchmarkBlocking sweeps the cache block sizes on two shapes with one
// thread, interleaved so load from other processes hits every setting.
func BenchmarkBlocking(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	shapes := [][3]int{{1024, 1024, 1024}, {256, 8192, 768}}
	defer func(k, m, n int) { kc, mc, nc = k, m, n }(kc, mc, nc)
	for round := 0; round < 2; round++ {
		for _, cfg := range [][3]int{{256, 144, 3072}, {384, 96, 3072}, {384, 144, 3072}, {256, 288, 3072}, {192, 192, 3072}, {256, 144, 1536}, {256, 144, 6144}} {
			for _, s := range shapes {
				g := newGemm(rng, false, false, s[0], s[1], s[2], 1, 0, 0)
				b.Run(fmt.Sprintf("kc=%d/mc=%d/nc=%d/%dx%dx%d", cfg[0], cfg[1], cfg[2], s[0], s[1], s[2]), func(b *testing.B) {
					kc, mc, nc = cfg[0], cfg[1], cfg[2]
					g.run(1)
					cpu0 := cputime.Process()
					for b.Loop() {
						g.run(1)
					}
					if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
						b.ReportMetric(2*float64(s[0]*s[1]*s[2])*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
					}
				})
			}
		}
	}
}
