//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// dotF16AVX returns Σ widen(w[i])·x[i] for i < n; n is a multiple of 32.
//
//go:noescape
func dotF16AVX(w *uint16, x *float32, n int) float32

// hasF16C: the conversion instruction VCVTPH2PS is its own CPUID bit.
var hasF16C = cpu.X86.HasF16C

func dotF16(w []uint16, x []float32) float32 {
	n := len(x)
	if !useAVX2FMA || !hasF16C || n < 32 {
		return dotF16Generic(w, x)
	}
	m := n &^ 31
	s := dotF16AVX(&w[0], &x[0], m)
	if m < n {
		s += dotF16Generic(w[m:n], x[m:])
	}
	return s
}
