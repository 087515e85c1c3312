//go:build !purego

#include "textflag.h"

// gemvQ4Kx16VNNI (see q4k_pack.go for the tile layout): SI tiles, DI
// activations, DX their scales, R8 their sums as int16 pairs, CX
// super-blocks. Z0 accumulates d·dx·Σ sc·Σq·x and Z1 dmin·dx·Σ m·Σx for the
// 16 rows; per super-block Z2 sums sc_j·Σq·x and Z3 m_j·Σx in int32 lanes.
// Per sub-block, Z4 sums the low nibbles' products and Z5 the high ones'
// kept in place (masked by 0xF0, so 16× the value: one shift per
// sub-block instead of one per vector).

// Q4X_SUB(j) adds sub-block j's sc_j·Σq·x to Z2.
#define Q4X_SUB(j) \
	VPXORD   Z4, Z4, Z4 \
	VPXORD   Z5, Z5, Z5 \
	Q4X_VEC(j, 0) \
	Q4X_VEC(j, 1) \
	Q4X_VEC(j, 2) \
	Q4X_VEC(j, 3) \
	VPSRAD    $4, Z5, Z5 \
	VPADDD    Z5, Z4, Z4 \
	VPMOVZXBD 64+16*j(SI), Z8 \
	VPMULLD   Z8, Z4, Z4 \
	VPADDD    Z4, Z2, Z2

// Q4X_VEC(j, s): nibble vector s of sub-block j times its two broadcast
// groups of four activations.
#define Q4X_VEC(j, s) \
	VMOVDQU64     320+256*j+64*s(SI), Z6 \
	VPANDD        Z31, Z6, Z7 \
	VPANDD        Z30, Z6, Z6 \
	VPDPBUSD.BCST 32*j+4*s(DI), Z7, Z4 \
	VPDPBUSD.BCST 32*j+4*s+16(DI), Z6, Z5

// Q4X_MIN(jp) adds sub-blocks 2jp and 2jp+1's m·Σx to Z3.
#define Q4X_MIN(jp) \
	VPMOVZXBW     192+32*jp(SI), Z9 \
	VPDPWSSD.BCST 4*jp(R8), Z9, Z3

// func gemvQ4Kx16VNNI(y *float32, w *byte, x *int8, dx *float32, sums *int16, nb int)
TEXT ·gemvQ4Kx16VNNI(SB), NOSPLIT, $0-48
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ dx+24(FP), DX
	MOVQ sums+32(FP), R8
	MOVQ nb+40(FP), CX
	VPXORD       Z0, Z0, Z0
	VPXORD       Z1, Z1, Z1
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	VPSLLD       $4, Z31, Z30

block:
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	Q4X_SUB(0)
	Q4X_SUB(1)
	Q4X_SUB(2)
	Q4X_SUB(3)
	Q4X_SUB(4)
	Q4X_SUB(5)
	Q4X_SUB(6)
	Q4X_SUB(7)
	Q4X_MIN(0)
	Q4X_MIN(1)
	Q4X_MIN(2)
	Q4X_MIN(3)
	VBROADCASTSS (DX), Z11
	VCVTPH2PS    (SI), Z10
	VMULPS       Z11, Z10, Z10
	VCVTDQ2PS    Z2, Z2
	VFMADD231PS  Z10, Z2, Z0
	VCVTPH2PS    32(SI), Z12
	VMULPS       Z11, Z12, Z12
	VCVTDQ2PS    Z3, Z3
	VFMADD231PS  Z12, Z3, Z1
	ADDQ         $2368, SI
	ADDQ         $256, DI
	ADDQ         $4, DX
	ADDQ         $16, R8
	DECQ         CX
	JNZ          block

	VSUBPS  Z1, Z0, Z0
	MOVQ    y+0(FP), AX
	VMOVUPS Z0, (AX)
	VZEROUPPER
	RET
