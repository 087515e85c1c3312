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

// BenchmarkAMXTiles measures the AMX pair kernel with its operands in L1,
// and the backward's interleaving of B's rows into pairs per bf16 value.
func BenchmarkAMXTiles(b *testing.B) {
	if !amxAvailable {
		b.Skip("no AMX")
	}
	const steps = 16 // depth 512
	a := make([]uint16, 32*steps*64)
	bb := make([]uint16, 32*steps*64)
	c := make([]float32, 32*64)
	b.Run("pair32x32", func(b *testing.B) {
		for range b.N {
			amxTile(a, steps*32, bb, steps*512, c, 32, steps, false, amxBlocks{1, 0, 0, 0})
		}
		b.ReportMetric(float64(2*32*32*32*steps)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	const rows, n = 256, 768
	w := make([]uint16, rows*n)
	dst := make([]uint16, (rows*16+32)*2*n/32)
	b.Run("pack256x768", func(b *testing.B) {
		for range b.N {
			packPairBlocks(dst, w, n, rows, n, rows*16+32)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*n), "ns/value")
	})
}
