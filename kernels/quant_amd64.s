//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// Integer dot products of Q4_K weight rows with int8 activations (see
// quant.go for the formulas and quant_amd64.go for the selection; Q8_0 rows
// go four at a time, q8_gemv_amd64.s). The AVX2 and VNNI variants differ
// only in how the int16 products are summed into int32 lanes; the rest is
// shared macros.

// Q4_K: SI super-blocks, DI activations, DX one activation scale per
// super-block, R8 activation sums per 32, CX super-blocks. Y0 accumulates
// d·Σ sc·Σq·x, Y1 dmin·Σ m·Σx, Y6 the int32 lanes of a super-block; the
// eight int16 scales go to the frame for VPBROADCASTW.
#define Q4_START \
	MOVQ w+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ dx+16(FP), DX \
	MOVQ sums+24(FP), R8 \
	MOVQ nb+32(FP), CX \
	VXORPS       Y0, Y0, Y0 \
	VXORPS       Y1, Y1, Y1 \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X15 \
	VPBROADCASTD X15, Y15

// K4_UNPACK unpacks the eight 6-bit scales of the Q4_K block at SI to the
// bytes of R10 and its eight mins to R13 (get_scale_min_k4, on 32-bit
// words; clobbers AX, BX, R9, R11, R12).
#define K4_UNPACK \
	MOVL  4(SI), AX \
	MOVL  8(SI), BX \
	MOVL  12(SI), R9 \
	MOVL  AX, R10 \
	ANDL  $0x3f3f3f3f, R10 \
	MOVL  R9, R11 \
	ANDL  $0x0f0f0f0f, R11 \
	MOVL  AX, R12 \
	SHRL  $6, R12 \
	ANDL  $0x03030303, R12 \
	SHLL  $4, R12 \
	ORL   R12, R11 \
	MOVL  BX, R13 \
	ANDL  $0x3f3f3f3f, R13 \
	MOVL  R9, AX \
	SHRL  $4, AX \
	ANDL  $0x0f0f0f0f, AX \
	MOVL  BX, R12 \
	SHRL  $6, R12 \
	ANDL  $0x03030303, R12 \
	SHLL  $4, R12 \
	ORL   R12, AX \
	SHLQ  $32, R11 \
	ORQ   R11, R10 \
	SHLQ  $32, AX \
	ORQ   AX, R13

// Q4_SCALES puts the 8 scales to the frame and adds the mins' term
// dmin·dx·Σ_j m_j·sums_j to Y1.
#define Q4_SCALES \
	K4_UNPACK \
	VMOVQ R10, X2 \
	VPMOVZXBW X2, X2 \
	VMOVDQU   X2, sc-16(SP) \
	VMOVQ        R13, X3 \
	VPMOVZXBD    X3, Y3 \
	VPMULLD      (R8), Y3, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VPBROADCASTW 2(SI), X4 \
	VCVTPH2PS    X4, Y4 \
	VBROADCASTSS (DX), Y5 \
	VMULPS       Y5, Y4, Y4 \
	VFMADD231PS  Y4, Y3, Y1 \
	VPXOR        Y6, Y6, Y6

// Q4_PAIR: 32 bytes of nibbles (two sub-blocks) times their activations,
// as int16 pair sums: Y8 low nibbles, Y7 high; Y9, Y10 their scales.
#define Q4_PAIR(q, x, s0, s1) \
	VMOVDQU      q(SI), Y7 \
	VPAND        Y15, Y7, Y8 \
	VPSRLW       $4, Y7, Y7 \
	VPAND        Y15, Y7, Y7 \
	VPMADDUBSW   x(DI), Y8, Y8 \
	VPMADDUBSW   x+32(DI), Y7, Y7 \
	VPBROADCASTW s0(SP), Y9 \
	VPBROADCASTW s1(SP), Y10

// Q4_NEXT scales Y6 by d·dx into Y0 and advances.
#define Q4_NEXT \
	VCVTDQ2PS    Y6, Y6 \
	VPBROADCASTW (SI), X4 \
	VCVTPH2PS    X4, Y4 \
	VMULPS       Y5, Y4, Y4 \
	VFMADD231PS  Y4, Y6, Y0 \
	ADDQ         $144, SI \
	ADDQ         $256, DI \
	ADDQ         $4, DX \
	ADDQ         $32, R8 \
	DECQ         CX

#define Q4_END \
	VSUBPS Y1, Y0, Y0 \
	HSUM \
	VZEROUPPER

// Q4_ACC_AVX2 and Q4_ACC_VNNI add a Q4_PAIR's products times their scales
// to Y6: VPMADDWD and VPADDD, or VPDPWSSD.
#define Q4_ACC_AVX2(q, x, s0, s1) \
	Q4_PAIR(q, x, s0, s1) \
	VPMADDWD Y9, Y8, Y8 \
	VPADDD   Y8, Y6, Y6 \
	VPMADDWD Y10, Y7, Y7 \
	VPADDD   Y7, Y6, Y6

#define Q4_ACC_VNNI(q, x, s0, s1) \
	Q4_PAIR(q, x, s0, s1) \
	VPDPWSSD Y9, Y8, Y6 \
	VPDPWSSD Y10, Y7, Y6

// Q4_DOT is the whole Q4_K dot product with the accumulation ACC.
#define Q4_DOT(ACC) \
	Q4_START \
block: \
	Q4_SCALES \
	ACC(16, 0, sc-16, sc-14) \
	ACC(48, 64, sc-12, sc-10) \
	ACC(80, 128, sc-8, sc-6) \
	ACC(112, 192, sc-4, sc-2) \
	Q4_NEXT \
	JNZ block \
	Q4_END


// Dequantization (dequantQ8_0* and dequantQ4_K* in quant_amd64.go): DI
// float32 output, SI blocks, CX blocks. The AVX2 and AVX-512 variants share
// the macros and differ in vector width (ymm: 8 values, zmm: 16).
#define DEQ_START \
	MOVQ dst+0(FP), DI \
	MOVQ src+8(FP), SI \
	MOVQ nb+16(FP), CX

// Q8D(q, o, R, D): the int8 values at q(SI), times the scale D, to o(DI).
#define Q8D(q, o, R, D) \
	VPMOVSXBD q(SI), R \
	VCVTDQ2PS R, R     \
	VMULPS    D, R, R  \
	VMOVUPS   R, o(DI)

// Q8D_AVX2 and Q8D_AVX512 decode the Q8_0 block at SI to DI.
#define Q8D_AVX2 \
	VPBROADCASTW (SI), X0 \
	VCVTPH2PS    X0, Y0   \
	Q8D(2, 0, Y1, Y0)     \
	Q8D(10, 32, Y2, Y0)   \
	Q8D(18, 64, Y3, Y0)   \
	Q8D(26, 96, Y4, Y0)

#define Q8D_AVX512 \
	VPBROADCASTW (SI), Y0 \
	VCVTPH2PS    Y0, Z0   \
	Q8D(2, 0, Z1, Z0)     \
	Q8D(18, 64, Z2, Z0)

// DEQ_Q8_0 decodes nb Q8_0 blocks with BLOCK.
#define DEQ_Q8_0(BLOCK) \
	DEQ_START \
loop: \
	BLOCK \
	ADDQ $34, SI \
	ADDQ $128, DI \
	DECQ CX \
	JNZ  loop \
	VZEROUPPER

// Q4D_SCALES writes d·sc_j (j = 0..7) to the frame's first 32 bytes and
// −dmin·m_j to the next 32, points R9 at them, R8 at the nibbles and DX
// counts the four 32-byte groups of nibbles.
#define Q4D_SCALES \
	K4_UNPACK \
	VMOVQ        R10, X2 \
	VPMOVZXBD    X2, Y2 \
	VCVTDQ2PS    Y2, Y2 \
	VPBROADCASTW (SI), X4 \
	VCVTPH2PS    X4, Y4 \
	VMULPS       Y4, Y2, Y2 \
	VMOVUPS      Y2, s-64(SP) \
	VMOVQ        R13, X3 \
	VPMOVZXBD    X3, Y3 \
	VCVTDQ2PS    Y3, Y3 \
	VPBROADCASTW 2(SI), X4 \
	VCVTPH2PS    X4, Y4 \
	VMULPS       Y4, Y3, Y3 \
	VXORPS       Y5, Y5, Y5 \
	VSUBPS       Y3, Y5, Y3 \
	VMOVUPS      Y3, s-32(SP) \
	LEAQ         s-64(SP), R9 \
	LEAQ         16(SI), R8 \
	MOVQ         $4, DX

// Q4D_GROUP broadcasts the scales of the group's two sub-blocks: low
// nibbles D1·q+M1, high D2·q+M2.
#define Q4D_GROUP(D1, M1, D2, M2) \
	VBROADCASTSS (R9), D1   \
	VBROADCASTSS 32(R9), M1 \
	VBROADCASTSS 4(R9), D2  \
	VBROADCASTSS 36(R9), M2

// Q4D(q, o, X, L, H, D1, M1, D2, M2): the nibbles at q(R8), widened to
// dwords in X, low ones (X − (X>>4)<<4, no mask register needed) scaled
// to o(DI), high ones to o+128(DI).
#define Q4D(q, o, X, L, H, D1, M1, D2, M2) \
	VPMOVZXBD   q(R8), X \
	VPSRLD      $4, X, H \
	VPSLLD      $4, H, L \
	VPSUBD      L, X, L \
	VCVTDQ2PS   L, L \
	VCVTDQ2PS   H, H \
	VFMADD213PS M1, D1, L \
	VFMADD213PS M2, D2, H \
	VMOVUPS     L, o(DI) \
	VMOVUPS     H, o+128(DI)

// Q4D_AVX2 and Q4D_AVX512 decode a group of 32 bytes of nibbles.
#define Q4D_AVX2 \
	Q4D_GROUP(Y6, Y7, Y8, Y9) \
	Q4D(0, 0, Y10, Y11, Y12, Y6, Y7, Y8, Y9) \
	Q4D(8, 32, Y10, Y11, Y12, Y6, Y7, Y8, Y9) \
	Q4D(16, 64, Y10, Y11, Y12, Y6, Y7, Y8, Y9) \
	Q4D(24, 96, Y10, Y11, Y12, Y6, Y7, Y8, Y9)

#define Q4D_AVX512 \
	Q4D_GROUP(Z6, Z7, Z8, Z9) \
	Q4D(0, 0, Z10, Z11, Z12, Z6, Z7, Z8, Z9) \
	Q4D(16, 64, Z10, Z11, Z12, Z6, Z7, Z8, Z9)

// Q4D_NEXT: next group of 32 nibbles (64 values); after four, next block.
#define Q4D_NEXT \
	ADDQ $8, R9 \
	ADDQ $32, R8 \
	ADDQ $256, DI \
	DECQ DX

// DEQ_Q4_K decodes nb Q4_K blocks, GROUP decoding each group of nibbles.
#define DEQ_Q4_K(GROUP) \
	DEQ_START \
block: \
	Q4D_SCALES \
group: \
	GROUP \
	Q4D_NEXT \
	JNZ  group \
	ADDQ $144, SI \
	DECQ CX \
	JNZ  block \
	VZEROUPPER

// func dotQ4_KAVX2(w *byte, x *int8, dx *float32, sums *int32, nb int) float32
TEXT ·dotQ4_KAVX2(SB), NOSPLIT, $16-44
	Q4_DOT(Q4_ACC_AVX2)
	MOVSS X0, ret+40(FP)
	RET

// func dotQ4_KVNNI(w *byte, x *int8, dx *float32, sums *int32, nb int) float32
TEXT ·dotQ4_KVNNI(SB), NOSPLIT, $16-44
	Q4_DOT(Q4_ACC_VNNI)
	MOVSS X0, ret+40(FP)
	RET

// func dequantQ8_0AVX2(dst *float32, src *byte, nb int)
TEXT ·dequantQ8_0AVX2(SB), NOSPLIT, $0-24
	DEQ_Q8_0(Q8D_AVX2)
	RET

// func dequantQ8_0AVX512(dst *float32, src *byte, nb int)
TEXT ·dequantQ8_0AVX512(SB), NOSPLIT, $0-24
	DEQ_Q8_0(Q8D_AVX512)
	RET

// func dequantQ4_KAVX2(dst *float32, src *byte, nb int)
TEXT ·dequantQ4_KAVX2(SB), NOSPLIT, $64-24
	DEQ_Q4_K(Q4D_AVX2)
	RET

// func dequantQ4_KAVX512(dst *float32, src *byte, nb int)
TEXT ·dequantQ4_KAVX512(SB), NOSPLIT, $64-24
	DEQ_Q4_K(Q4D_AVX512)
	RET
