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

// BenchmarkAMXTiles measures the AMX tile kernels with their operands in
// L1: the 32x32 pair-layout one and the backward one, whose (a,0)/(0,a)
// halves leave half of each TDPBF16PS unused (counted as useful FLOPs).
func BenchmarkAMXTiles(b *testing.B) {
	if !amxAvailable {
		b.Skip("no AMX")
	}
	const steps = 16 // depth 512 (pair kernel), 256 (split kernel)
	a := make([]uint16, 32*steps*64)
	bb := make([]uint16, 32*steps*64)
	c := make([]float32, 32*64)
	b.Run("pair32x32", func(b *testing.B) {
		for range b.N {
			amxTile(a, steps*32, bb, steps*512, c, 32, steps, amxBlocks{1, 0, 0, 0})
		}
		b.ReportMetric(float64(2*32*32*32*steps)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("split16x64", func(b *testing.B) {
		for range b.N {
			amxSplitTile(a, steps*64, bb, 64, c, 64, steps, false, amxBlocks{1, 0, 0, 0})
		}
		b.ReportMetric(float64(2*16*64*16*steps)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
