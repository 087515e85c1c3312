//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"
#include "gemm_amd64.h"

// The 12x32 AVX512_BF16 micro-kernel: sgemmKernel12x32's register plan
// (sgemm_avx512_amd64.s) with VDPBF16PS in place of VFMADD231PS. Packed A
// and B hold bf16 pairs (two consecutive depths in one 32-bit word), so
// each step covers two depths: per step 2 loads of 16 B-column pairs into
// Z24/Z25, 12 broadcasts of an A row's pair into Z26/Z27 and 24 dot
// products, each adding two exact bf16 products into a float32 lane.

// DPBF16 is VDPBF16PS zmm(acc) += pairs(zmm(src1))·pairs(zmm(rm)), encoded
// by hand (EVEX.512.F3.0F38.W0 52 /r, register form) because the Go
// assembler lacks the mnemonic; the operands are register numbers 0-31.
// Tested against the Go reference in gemm_half_test.go.
#define DPBF16(acc, src1, rm) \
	BYTE $0x62; \
	BYTE $(((1-((acc>>3)&1))<<7) | ((1-((rm>>4)&1))<<6) | ((1-((rm>>3)&1))<<5) | ((1-((acc>>4)&1))<<4) | 2); \
	BYTE $(((15-(src1&15))<<3) | 6); \
	BYTE $(0x40 | ((1-((src1>>4)&1))<<3)); \
	BYTE $0x52; \
	BYTE $(0xC0 | ((acc&7)<<3) | (rm&7))

#define PREFETCH_ROW \
	PREFETCHT0 (R9)        \
	PREFETCHT0 64(R9)      \
	PREFETCHT0 124(R9)     \
	ADDQ       LDC_BYTES, R9

#define BROW(aoff, lo, hi, areg, an) \
	VPBROADCASTD aoff(A_PTR), areg \
	DPBF16(lo, 24, an)             \
	DPBF16(hi, 25, an)

#define BQUAD(aoff, r0, r1, r2, r3, r4, r5, r6, r7) \
	BROW(aoff, r0, r1, Z26, 26)    \
	BROW(aoff+4, r2, r3, Z27, 27)  \
	BROW(aoff+8, r4, r5, Z26, 26)  \
	BROW(aoff+12, r6, r7, Z27, 27)

#define BSTEP \
	VMOVUPS (B_PTR), Z24                    \
	VMOVUPS 64(B_PTR), Z25                  \
	BQUAD(0, 0, 1, 2, 3, 4, 5, 6, 7)        \
	BQUAD(16, 8, 9, 10, 11, 12, 13, 14, 15) \
	BQUAD(32, 16, 17, 18, 19, 20, 21, 22, 23) \
	ADDQ    $48, A_PTR                      \
	ADDQ    $128, B_PTR

#define STORE0(lo, hi) \
	VMOVUPS lo, (C_PTR)   \
	VMOVUPS hi, 64(C_PTR) \
	ADDQ    LDC_BYTES, C_PTR

#define STOREB(lo, hi) \
	VFMADD231PS (C_PTR), Z26, lo   \
	VFMADD231PS 64(C_PTR), Z26, hi \
	VMOVUPS     lo, (C_PTR)        \
	VMOVUPS     hi, 64(C_PTR)      \
	ADDQ        LDC_BYTES, C_PTR

#define TILE12(op) \
	op(Z0, Z1)   \
	op(Z2, Z3)   \
	op(Z4, Z5)   \
	op(Z6, Z7)   \
	op(Z8, Z9)   \
	op(Z10, Z11) \
	op(Z12, Z13) \
	op(Z14, Z15) \
	op(Z16, Z17) \
	op(Z18, Z19) \
	op(Z20, Z21) \
	op(Z22, Z23)

// func bf16Kernel12x32(k int, a, b, c *float32, ldc int, beta float32)
// k counts pair steps (half the depth, rounded up).
TEXT ·bf16Kernel12x32(SB), NOSPLIT, $0-44
	KERNEL_ARGS
	PREFETCH_4ROWS
	PREFETCH_4ROWS
	PREFETCH_4ROWS
	ZERO8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	ZERO8(Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)

loop4:
	CMPQ K_REM, $4
	JL   loop1
	BSTEP
	BSTEP
	BSTEP
	BSTEP
	SUBQ $4, K_REM
	JMP  loop4

loop1:
	TESTQ K_REM, K_REM
	JE    store
	BSTEP
	DECQ  K_REM
	JMP   loop1

	FINISH(TILE12, Z26, X24, X25)

// func widenBF16AVX(dst *float32, src *uint16, n int)
// n is a multiple of 16: each bf16 is the upper half of its float32.
TEXT ·widenBF16AVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   wbdone

wbloop:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       wbloop

wbdone:
	VZEROUPPER
	RET

// func widenF16AVX(dst *float32, src *uint16, n int)
// n is a multiple of 16.
TEXT ·widenF16AVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   wfdone

wfloop:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       wfloop

wfdone:
	VZEROUPPER
	RET

// func dotBF16AVX(w *uint16, x *float32, n int) float32
// n is a multiple of 32: dotF16AVX with the widening done by a shift.
TEXT ·dotBF16AVX(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	ZERO4(Y0, Y1, Y2, Y3)
	SHRQ $5, CX
	JZ   dbdone

dbloop:
	VPMOVZXWD   (SI), Y4
	VPMOVZXWD   16(SI), Y5
	VPMOVZXWD   32(SI), Y6
	VPMOVZXWD   48(SI), Y7
	VPSLLD      $16, Y4, Y4
	VPSLLD      $16, Y5, Y5
	VPSLLD      $16, Y6, Y6
	VPSLLD      $16, Y7, Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	DECQ        CX
	JNZ         dbloop

dbdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotBF16Pairs4AVX512(p *[4]*uint16, x *uint16, n int, out *[4]float32)
//
// out[r] = Σ p[r][i]·x[i] over bf16 rows and x, n a multiple of 32: four
// weight rows against one activation row, so each load of x feeds four
// VDPBF16PS and a decode's weight row costs one load and one instruction
// per cache line, no widening at all. Row r accumulates in Z(r) (even
// 32-value chunks) and Z(r+4) (odd ones), whatever the other rows are, so
// its sum does not depend on the rows it shares the call with.
TEXT ·dotBF16Pairs4AVX512(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	ZERO8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	XORQ SI, SI
	MOVQ CX, DX
	SHRQ $6, DX
	JZ   d4tail

d4loop:
	// A decode streams the weights from memory: ask for the lines 1 KiB
	// ahead so more misses are in flight than the hardware prefetcher
	// alone keeps.
	PREFETCHT0 1024(R8)(SI*1)
	PREFETCHT0 1088(R8)(SI*1)
	PREFETCHT0 1024(R9)(SI*1)
	PREFETCHT0 1088(R9)(SI*1)
	PREFETCHT0 1024(R10)(SI*1)
	PREFETCHT0 1088(R10)(SI*1)
	PREFETCHT0 1024(R11)(SI*1)
	PREFETCHT0 1088(R11)(SI*1)
	VMOVDQU32  (DI)(SI*1), Z8
	VMOVDQU32  64(DI)(SI*1), Z9
	VMOVDQU32  (R8)(SI*1), Z10
	VMOVDQU32  64(R8)(SI*1), Z11
	VMOVDQU32  (R9)(SI*1), Z12
	VMOVDQU32  64(R9)(SI*1), Z13
	VMOVDQU32  (R10)(SI*1), Z14
	VMOVDQU32  64(R10)(SI*1), Z15
	VMOVDQU32  (R11)(SI*1), Z16
	VMOVDQU32  64(R11)(SI*1), Z17
	DPBF16(0, 10, 8)
	DPBF16(4, 11, 9)
	DPBF16(1, 12, 8)
	DPBF16(5, 13, 9)
	DPBF16(2, 14, 8)
	DPBF16(6, 15, 9)
	DPBF16(3, 16, 8)
	DPBF16(7, 17, 9)
	ADDQ       $128, SI
	DECQ       DX
	JNZ        d4loop

d4tail:
	TESTQ     $32, CX
	JZ        d4sum
	VMOVDQU32 (DI)(SI*1), Z8
	VMOVDQU32 (R8)(SI*1), Z10
	VMOVDQU32 (R9)(SI*1), Z12
	VMOVDQU32 (R10)(SI*1), Z14
	VMOVDQU32 (R11)(SI*1), Z16
	DPBF16(0, 10, 8)
	DPBF16(1, 12, 8)
	DPBF16(2, 14, 8)
	DPBF16(3, 16, 8)

d4sum:
	VADDPS        Z4, Z0, Z0
	VADDPS        Z5, Z1, Z1
	VADDPS        Z6, Z2, Z2
	VADDPS        Z7, Z3, Z3
	VEXTRACTF64X4 $1, Z0, Y8
	VADDPS        Y8, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y8
	VADDPS        Y8, Y1, Y1
	VEXTRACTF64X4 $1, Z2, Y8
	VADDPS        Y8, Y2, Y2
	VEXTRACTF64X4 $1, Z3, Y8
	VADDPS        Y8, Y3, Y3
	// Pairwise sums of the four rows' 8 lanes, then their halves: out[r]
	// in lane r.
	VHADDPS       Y1, Y0, Y0
	VHADDPS       Y3, Y2, Y2
	VHADDPS       Y2, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	MOVQ          out+24(FP), AX
	VMOVUPS       X0, (AX)
	VZEROUPPER
	RET
