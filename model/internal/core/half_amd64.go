//go:build !purego

package core

import "golang.org/x/sys/cpu"

//go:noescape
func dotF16AVX(w *uint16, x *float32, n int) float32

var hasF16 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// dotF16 is Σ widen(w[i])·x[i] over len(x).
func dotF16(w []uint16, x []float32) float32 {
	n := len(x)
	w = w[:n]
	if !hasF16 || n < 32 {
		return dotF16Generic(w, x)
	}
	m := n &^ 31
	s := dotF16AVX(&w[0], &x[0], m)
	if m < n {
		s += dotF16Generic(w[m:], x[m:])
	}
	return s
}
