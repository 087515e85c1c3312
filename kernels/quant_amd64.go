//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// dotQ4_KAVX2 and dotQ4_KVNNI are dotQ4_KGeneric over nb super-blocks:
// nibbles times x by VPMADDUBSW, times the sub-block scales by VPMADDWD
// (AVX2) or VPDPWSSD (VNNI), the mins' term from the activation sums.
//
//go:noescape
func dotQ4_KAVX2(w *byte, x *int8, dx *float32, sums *int32, nb int) float32

//go:noescape
func dotQ4_KVNNI(w *byte, x *int8, dx *float32, sums *int32, nb int) float32

// dequantQ8_0AVX2/AVX512 and dequantQ4_KAVX2/AVX512 are the generic
// decoders over nb blocks: bytes widened to int32 lanes (VPMOVSXBD, or
// VPMOVZXBD and a nibble mask), converted, and scaled (Q4_K: one FMA by
// d·sc_j and −dmin·m_j per sub-block).
//
//go:noescape
func dequantQ8_0AVX2(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ8_0AVX512(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ4_KAVX2(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ4_KAVX512(dst *float32, src *byte, nb int)

// hasVNNI: VPDPBUSD/VPDPWSSD on ymm registers need AVX512_VNNI and
// AVX512VL; they are used when the AVX-512 kernels are (useAVX512).
var hasVNNI = cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL

func dotQ4_K(w []byte, x []int8, dx []float32, sums []int32) float32 {
	nb := len(dx)
	switch {
	case nb == 0:
		return 0
	case len(w) < 144*nb || len(x) < 256*nb || len(sums) < 8*nb:
		panic("kernels: dotQ4_K: short row")
	case useAVX512 && hasVNNI:
		return dotQ4_KVNNI(&w[0], &x[0], &dx[0], &sums[0], nb)
	case useAVX2FMA && hasF16C:
		return dotQ4_KAVX2(&w[0], &x[0], &dx[0], &sums[0], nb)
	}
	return dotQ4_KGeneric(w, x, dx, sums)
}

// dequantQ8_0 and dequantQ4_K run the widest decoder the CPU has (checked
// at each call: the tests switch implementations).
var (
	dequantQ8_0 = dequantWith(dequantQ8_0AVX512, dequantQ8_0AVX2, dequantQ8_0Generic, 32)
	dequantQ4_K = dequantWith(dequantQ4_KAVX512, dequantQ4_KAVX2, dequantQ4_KGeneric, 256)
)

func dequantWith(avx512, avx2 func(*float32, *byte, int), generic func([]float32, []byte), block int) func([]float32, []byte) {
	return func(dst []float32, src []byte) {
		switch {
		case useAVX512 && hasF16C:
			avx512(&dst[0], &src[0], len(dst)/block)
		case useAVX2FMA && hasF16C:
			avx2(&dst[0], &src[0], len(dst)/block)
		default:
			generic(dst, src)
		}
	}
}
