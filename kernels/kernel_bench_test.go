package kernels

import "testing"

// BenchmarkKernel times the micro-kernel alone on L1-resident panels:
// the ceiling the blocked GEMM can approach on one core.
func BenchmarkKernel(b *testing.B) {
	const k = kc
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
			cpu0 := cpuTime()
			for b.Loop() {
				ge.kernel(k, a, bp, c, ge.nr, 1)
			}
			flops := 2 * float64(ge.mr*ge.nr*k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
