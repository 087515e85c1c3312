//go:build !purego

#include "textflag.h"

// func expSubAVX512(dst, x *float32, n int, m float32, tab *[21][8]float32) float32
// expSubAVX (vec_amd64.s) 16 lanes at a time, n a multiple of 16: the same
// operations in the same order on each lane, so every exp has the same
// bits; only the returned sum is added in another order. The underflow
// lanes are zeroed by a mask (VANDNPS on zmm needs AVX-512DQ), and, as in
// expSubAVX, their t is set to 0 first: clamped to lo it makes a denormal
// 2^n·p, and each vector holding one cost a microcode assist (rows of 64
// with 8 lanes of -Inf, as attention pads its rows: 2.6x the time).
TEXT ·expSubAVX512(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Z15
	MOVQ         tab+32(FP), AX
	VBROADCASTSS 0(AX), Z14   // hi
	VBROADCASTSS 32(AX), Z13  // lo
	VBROADCASTSS 64(AX), Z12  // log2e
	VBROADCASTSS 96(AX), Z11  // 0.5
	VBROADCASTSS 128(AX), Z10 // ln2hi
	VBROADCASTSS 160(AX), Z9  // ln2lo
	VBROADCASTSS 192(AX), Z16 // p0..p5
	VBROADCASTSS 224(AX), Z17
	VBROADCASTSS 256(AX), Z18
	VBROADCASTSS 288(AX), Z19
	VBROADCASTSS 320(AX), Z20
	VBROADCASTSS 352(AX), Z21
	VBROADCASTSS 384(AX), Z8  // 1
	VPBROADCASTD 416(AX), Z22 // exponent bias
	VPXORD       Z5, Z5, Z5
	TESTQ        CX, CX
	JZ           done

loop:
	VMOVUPS      (SI), Z0
	VSUBPS       Z15, Z0, Z0    // t = x - m
	VCMPPS       $1, Z13, Z0, K1 // underflow: t < lo
	KNOTW        K1, K2
	VMOVAPS.Z    Z0, K2, Z0     // t = 0 there (see above)
	VMINPS       Z0, Z14, Z0
	VMAXPS       Z0, Z13, Z0
	VMULPS       Z12, Z0, Z2
	VADDPS       Z11, Z2, Z2
	VRNDSCALEPS  $1, Z2, Z2     // n = floor(t*log2e + 0.5)
	VFNMADD231PS Z10, Z2, Z0    // r = t - n*ln2hi
	VFNMADD231PS Z9, Z2, Z0     //   - n*ln2lo
	VMOVAPS      Z16, Z3
	VFMADD213PS  Z17, Z0, Z3
	VFMADD213PS  Z18, Z0, Z3
	VFMADD213PS  Z19, Z0, Z3
	VFMADD213PS  Z20, Z0, Z3
	VFMADD213PS  Z21, Z0, Z3
	VMULPS       Z0, Z0, Z4
	VFMADD213PS  Z0, Z4, Z3     // p*r*r + r
	VADDPS       Z8, Z3, Z3     // + 1
	VCVTTPS2DQ   Z2, Z2
	VPADDD       Z22, Z2, Z2
	VPSLLD       $23, Z2, Z2    // 2^n
	VMULPS       Z2, Z3, Z3
	VMOVAPS.Z    Z3, K2, Z3
	VMOVUPS      Z3, (DI)
	VADDPS       Z3, Z5, Z5
	ADDQ         $64, SI
	ADDQ         $64, DI
	SUBQ         $16, CX
	JNZ          loop

done:
	VEXTRACTF64X4 $1, Z5, Y1
	VADDPS        Y1, Y5, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	VMOVSS        X0, ret+40(FP)
	VZEROUPPER
	RET
