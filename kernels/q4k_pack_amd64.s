//go:build !purego

#include "textflag.h"

// gemvQ4Kx16VNNI (see q4k_pack.go for the tile layout): SI tiles, DI
// activations, DX their scales, R8 their sums as int16 pairs, CX
// super-blocks. Z0 accumulates d·dx·Σ sc·Σq·x and Z1 dmin·dx·Σ m·Σx for the
// 16 rows; per super-block Z2 sums sc_j·Σq·x and Z3 m_j·Σx in int32 lanes.
// Per sub-block, Z4 sums the low nibbles' products and Z5 the high ones'
// kept in place (masked by 0xF0, so 16× the value: one shift per
// sub-block instead of one per vector).

// Q4_AHEAD: how far ahead of the loads the next tiles' lines are
// prefetched.
#define Q4_AHEAD 4736

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
	PREFETCHT0    Q4_AHEAD+320+256*j+64*s(SI) \
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
	PREFETCHT0 Q4_AHEAD(SI)
	PREFETCHT0 Q4_AHEAD+64(SI)
	PREFETCHT0 Q4_AHEAD+128(SI)
	PREFETCHT0 Q4_AHEAD+192(SI)
	PREFETCHT0 Q4_AHEAD+256(SI)
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

// gemvQ4Kx8AVX2 is the same for the 8 rows of half h of the group (AVX2
// has 8 int32 lanes): R11 the half's nibble bytes (+32h), R12 its scales
// (+8h), R13 its d, dmin and mins (+16h). Without VPDPBUSD the products
// are VPMADDUBSW int16 pairs, eight of them summed in int16 per sub-block
// (at most 8·2·15·127 = 30480), then widened by VPMADDWD with ones.
// Y0/Y1 as above, Y2/Y3 the super-block's int32 sums, Y4 a sub-block's
// int16 sums, Y14 int16 ones, Y15 the 0x0F mask.

// Q4A_SUB(j) adds sub-block j's sc_j·Σq·x to Y2.
#define Q4A_SUB(j) \
	VPXOR     Y4, Y4, Y4 \
	Q4A_VEC(j, 0) \
	Q4A_VEC(j, 1) \
	Q4A_VEC(j, 2) \
	Q4A_VEC(j, 3) \
	VPMADDWD  Y14, Y4, Y4 \
	VPMOVZXBD 64+16*j(R12), Y8 \
	VPMULLD   Y8, Y4, Y4 \
	VPADDD    Y4, Y2, Y2

#define Q4A_VEC(j, s) \
	VMOVDQU      320+256*j+64*s(R11), Y6 \
	VPAND        Y15, Y6, Y7 \
	VPSRLW       $4, Y6, Y6 \
	VPAND        Y15, Y6, Y6 \
	VPBROADCASTD 32*j+4*s(DI), Y8 \
	VPMADDUBSW   Y8, Y7, Y7 \
	VPBROADCASTD 32*j+4*s+16(DI), Y9 \
	VPMADDUBSW   Y9, Y6, Y6 \
	VPADDW       Y7, Y4, Y4 \
	VPADDW       Y6, Y4, Y4

#define Q4A_MIN(jp) \
	VPMOVZXBW    192+32*jp(R13), Y9 \
	VPBROADCASTD 4*jp(R8), Y10 \
	VPMADDWD     Y10, Y9, Y9 \
	VPADDD       Y9, Y3, Y3

// func gemvQ4Kx8AVX2(y *float32, w *byte, x *int8, dx *float32, sums *int16, nb, h int)
TEXT ·gemvQ4Kx8AVX2(SB), NOSPLIT, $0-56
	MOVQ w+8(FP), R11
	MOVQ x+16(FP), DI
	MOVQ dx+24(FP), DX
	MOVQ sums+32(FP), R8
	MOVQ nb+40(FP), CX
	MOVQ h+48(FP), AX
	MOVQ R11, R12
	MOVQ R11, R13
	SHLQ $3, AX
	ADDQ AX, R12
	ADDQ AX, R13
	ADDQ AX, R13
	ADDQ AX, R11
	ADDQ AX, R11
	ADDQ AX, R11
	ADDQ AX, R11
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	VPCMPEQW     Y14, Y14, Y14
	VPSRLW       $15, Y14, Y14

blockA:
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	Q4A_SUB(0)
	Q4A_SUB(1)
	Q4A_SUB(2)
	Q4A_SUB(3)
	Q4A_SUB(4)
	Q4A_SUB(5)
	Q4A_SUB(6)
	Q4A_SUB(7)
	Q4A_MIN(0)
	Q4A_MIN(1)
	Q4A_MIN(2)
	Q4A_MIN(3)
	VBROADCASTSS (DX), Y11
	VCVTPH2PS    (R13), Y10
	VMULPS       Y11, Y10, Y10
	VCVTDQ2PS    Y2, Y2
	VFMADD231PS  Y10, Y2, Y0
	VCVTPH2PS    32(R13), Y12
	VMULPS       Y11, Y12, Y12
	VCVTDQ2PS    Y3, Y3
	VFMADD231PS  Y12, Y3, Y1
	ADDQ         $2368, R11
	ADDQ         $2368, R12
	ADDQ         $2368, R13
	ADDQ         $256, DI
	ADDQ         $4, DX
	ADDQ         $16, R8
	DECQ         CX
	JNZ          blockA

	VSUBPS  Y1, Y0, Y0
	MOVQ    y+0(FP), AX
	VMOVUPS Y0, (AX)
	VZEROUPPER
	RET
