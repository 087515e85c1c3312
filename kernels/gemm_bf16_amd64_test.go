//go:build !purego

package kernels

import "testing"

// BenchmarkMicroKernels compares the float32 and bf16-pair 12x32 kernels
// on the same depth with everything in L1: the bf16 one covers two depths
// per instruction.
func BenchmarkMicroKernels(b *testing.B) {
	if !useAVX512BF16 {
		b.Skip("no AVX512_BF16")
	}
	const k = 256
	a := make([]float32, 12*k)
	bb := make([]float32, 32*k)
	c := make([]float32, 12*32)
	flops := float64(2 * 12 * 32 * k)
	b.Run("f32", func(b *testing.B) {
		for range b.N {
			kernelAVX512(k, a, bb, c, 32, 0)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("bf16", func(b *testing.B) {
		for range b.N {
			kernelBF16(k, a, bb, c, 32, 0)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
