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

// func dotBF16PairsAVX512(w *uint16, x *uint16, n int) float32
// Σ w[i]·x[i] over bf16 w and x, n a multiple of 32: one VDPBF16PS per 32
// values, so a decode's weight row costs one load and one instruction per
// cache line, no widening (shifts, shuffles) at all.
TEXT ·dotBF16PairsAVX512(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	ZERO4(Z0, Z1, Z2, Z3)
	MOVQ   CX, DX
	SHRQ   $7, DX
	JZ     dptail

dploop:
	// A decode streams the weight from memory: ask for the lines 1 KiB
	// ahead (4 per iteration) so more misses are in flight than the
	// hardware prefetcher alone keeps.
	PREFETCHT0 1024(SI)
	PREFETCHT0 1088(SI)
	PREFETCHT0 1152(SI)
	PREFETCHT0 1216(SI)
	VMOVDQU32 (SI), Z4
	VMOVDQU32 64(SI), Z5
	VMOVDQU32 128(SI), Z6
	VMOVDQU32 192(SI), Z7
	VMOVDQU32 (DI), Z8
	VMOVDQU32 64(DI), Z9
	VMOVDQU32 128(DI), Z10
	VMOVDQU32 192(DI), Z11
	DPBF16(0, 4, 8)
	DPBF16(1, 5, 9)
	DPBF16(2, 6, 10)
	DPBF16(3, 7, 11)
	ADDQ      $256, SI
	ADDQ      $256, DI
	DECQ      DX
	JNZ       dploop

dptail:
	ANDQ $127, CX
	SHRQ $5, CX
	JZ   dpdone

dptloop:
	VMOVDQU32 (SI), Z4
	VMOVDQU32 (DI), Z8
	DPBF16(0, 4, 8)
	ADDQ      $64, SI
	ADDQ      $64, DI
	DECQ      CX
	JNZ       dptloop

dpdone:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET
