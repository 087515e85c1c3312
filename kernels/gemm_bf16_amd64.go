//go:build !purego

package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/golora/golora/tensor"
)

// bf16Kernel12x32 computes a 12x32 tile from bf16-pair panels:
//
//	c[i*ldc+j] = Σ_q a[q*12+i]·b[q*32+j] + beta*c[i*ldc+j]
//
// where each word holds two bf16 values and · is their two-term dot
// product (VDPBF16PS); k counts the words of a panel column.
//
//go:noescape
func bf16Kernel12x32(k int, a, b, c *float32, ldc int, beta float32)

//go:noescape
func widenBF16AVX(dst *float32, src *uint16, n int)

//go:noescape
func widenF16AVX(dst *float32, src *uint16, n int)

//go:noescape
func dotBF16AVX(w *uint16, x *float32, n int) float32

//go:noescape
func dotBF16Pairs4AVX512(p *[4]*uint16, x *uint16, n int, out *[4]float32)

// useAVX512BF16 selects the VDPBF16PS kernel (Zen 4/5, Cooper Lake,
// Sapphire Rapids and later).
var useAVX512BF16 = useAVX512 && cpu.X86.HasAVX512BF16

// kernelBF16 is the geom kernel: kcur is the depth in values, the panels
// hold (kcur+1)/2 pair words per row or column.
func kernelBF16(kcur int, a, b, c []float32, ldc int, beta float32) {
	k := (kcur + 1) / 2
	checkTile(k, 12, 32, a, b, c, ldc)
	bf16Kernel12x32(k, &a[0], &b[0], &c[0], ldc, beta)
}

var geomBF16Val = geom{"avx512bf16", 12, 32, kernelBF16, nil, nil, nil}

// geomBF16 is the pair micro-kernel, nil where the CPU lacks AVX512_BF16
// or runs it slower than the float32 kernel. On Sapphire Rapids (the CPUs
// with AMX-BF16) VDPBF16PS issues at a quarter of the FMA rate, so a step
// covering two depths costs more than two FMA steps: BenchmarkMicroKernels
// measured it at 0.75x the float32 kernel's FLOP/s there. Zen 4/5 and
// Cooper Lake run it at the FMA rate, twice the FLOPs.
var geomBF16 = func() *geom {
	if useAVX512BF16 && !cpu.X86.HasAMXBF16 {
		return &geomBF16Val
	}
	return nil
}()

// geomBF16Forced is the pair kernel whatever the CPU's speed at it, for
// the tests.
var geomBF16Forced = func() *geom {
	if useAVX512BF16 {
		return &geomBF16Val
	}
	return nil
}()

// widenAsm widens the longest prefix of src it can with vector code and
// returns its length.
func widenAsm(dt tensor.DType, dst []float32, src []uint16) int {
	n := len(dst) &^ 15
	if !useAVX2FMA || n == 0 {
		return 0
	}
	switch {
	case dt == tensor.BF16:
		widenBF16AVX(&dst[0], &src[0], n)
	case hasF16C:
		widenF16AVX(&dst[0], &src[0], n)
	default:
		return 0
	}
	return n
}

func dotBF16(w []uint16, x []float32) float32 {
	n := len(x)
	if !useAVX2FMA || n < 32 {
		return dotBF16Generic(w, x)
	}
	m := n &^ 31
	s := dotBF16AVX(&w[0], &x[0], m)
	if m < n {
		s += dotBF16Generic(w[m:n], x[m:])
	}
	return s
}

// dotBF16Pairs4 sets out[r] = Σ w[r][i]·x[i] over len(x), all bf16:
// VDPBF16PS products are exact and their sums float32 as in the other BF16
// paths (it treats denormal inputs as zero, far below the rounding of the
// sums). Each row's sum is the same whatever the other rows are.
func dotBF16Pairs4(w *[4][]uint16, x []uint16, out *[4]float32) {
	n := len(x)
	m := n &^ 31
	if m > 0 && useAVX512 && useAVX512BF16 {
		var p [4]*uint16
		for r := range p {
			p[r] = &w[r][:n][0]
		}
		dotBF16Pairs4AVX512(&p, &x[0], m, out)
	} else {
		m, *out = 0, [4]float32{}
	}
	dotBF16PairsTail(w, x, m, out)
}
