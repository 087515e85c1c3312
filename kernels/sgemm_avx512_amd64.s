//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"
#include "gemm_amd64.h"

// The 12x32 AVX-512 micro-kernel, for CPUs with 512-bit FMA datapaths
// (Zen 5, Intel server cores), where it does twice the work per instruction
// of the 6x16 AVX2 kernel. Twenty-four zmm accumulators hold the 12x32
// tile (row i in Z(2i), Z(2i+1)); each k step loads 32 floats of the packed
// B panel into Z24/Z25 and broadcasts the 12 packed A values into Z26/Z27
// in turn: 24 FMAs per 2 loads + 12 broadcasts.
//
// With src != nil the kernel reads its B panel straight from a row-major
// B (row p of the panel at src + p*ldsrc floats) and writes it, packed, to
// b for the A panels that follow (PSTEP). Each step also prefetches the
// same row of the next panel (the following 32 floats), so that panel's
// rows arrive from memory while this and the next A panels compute:
// packing B in a pass of its own would stall on memory instead.


// PREFETCH_ROW touches one 128-byte row of the C tile early, so its lines
// arrive while the loop runs.
#define PREFETCH_ROW \
	PREFETCHT0 (R9)        \
	PREFETCHT0 64(R9)      \
	PREFETCHT0 124(R9)     \
	ADDQ       LDC_BYTES, R9

#define PREFETCH_12ROWS \
	PREFETCH_4ROWS \
	PREFETCH_4ROWS \
	PREFETCH_4ROWS

#define ZERO_TILE12 \
	ZERO8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)         \
	ZERO8(Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)   \
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)

#define ROW(aoff, lo, hi, areg) \
	VBROADCASTSS aoff(A_PTR), areg \
	VFMADD231PS  Z24, areg, lo     \
	VFMADD231PS  Z25, areg, hi

// QUAD does four rows from the A values at aoff..aoff+12, alternating the
// broadcast registers so consecutive FMAs are independent.
#define QUAD(aoff, r0, r1, r2, r3, r4, r5, r6, r7) \
	ROW(aoff, r0, r1, Z26)    \
	ROW(aoff+4, r2, r3, Z27)  \
	ROW(aoff+8, r4, r5, Z26)  \
	ROW(aoff+12, r6, r7, Z27)

// ROWS12 multiplies the B row in Z24/Z25 by the 12 A values of one step.
#define ROWS12 \
	QUAD(0, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)          \
	QUAD(16, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)   \
	QUAD(32, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23) \
	ADDQ $48, A_PTR

#define STEP \
	VMOVUPS (B_PTR), Z24   \
	VMOVUPS 64(B_PTR), Z25 \
	ROWS12                 \
	ADDQ    $128, B_PTR

#define PSTEP \
	VMOVUPS    (SI), Z24      \
	VMOVUPS    64(SI), Z25    \
	PREFETCHT0 128(SI)        \
	PREFETCHT0 192(SI)        \
	PREFETCHT0 255(SI)        \
	VMOVUPS    Z24, (B_PTR)   \
	VMOVUPS    Z25, 64(B_PTR) \
	ROWS12                    \
	ADDQ       $128, B_PTR    \
	ADDQ       R11, SI

// STORE0 writes one C row from two accumulators; STOREB adds beta*C
// (beta in Z26) first.
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

// TILE4 and TILE12 apply op, STORE0 or STOREB, to the rows of a tile.
#define TILE4(op) \
	op(Z0, Z1) \
	op(Z2, Z3) \
	op(Z4, Z5) \
	op(Z6, Z7)

#define TILE12(op) \
	TILE4(op)    \
	op(Z8, Z9)   \
	op(Z10, Z11) \
	op(Z12, Z13) \
	op(Z14, Z15) \
	op(Z16, Z17) \
	op(Z18, Z19) \
	op(Z20, Z21) \
	op(Z22, Z23)

// func sgemmKernel12x32(k int, a, b, c *float32, ldc int, beta float32, src *float32, ldsrc int)
TEXT ·sgemmKernel12x32(SB), NOSPLIT, $0-64
	KERNEL_START(PREFETCH_12ROWS, ZERO_TILE12)

loop4:
	CMPQ K_REM, $4
	JL   loop1
	STEP
	STEP
	STEP
	STEP
	SUBQ $4, K_REM
	JMP  loop4

loop1:
	TESTQ K_REM, K_REM
	JE    store
	STEP
	DECQ  K_REM
	JMP   loop1

	FINISH(TILE12, Z26, X24, X25)

// sgemmKernel4x32 computes 4 rows of a 32-column tile from a packed A panel
// whose rows are astride floats apart (the 12-row panel of an edge block,
// where only some rows are real): the bottom rows of C when M is not a
// multiple of 12 cost a third of a full tile instead of a whole one. Each
// element is one FMA chain over k, as in sgemmKernel12x32, so a row of C
// gets the same bits whichever kernel computes it: a row's result does not
// depend on how many rows share the product (serve's row-exact batching
// relies on it; TestRowsIndependentOfM). Splitting even and odd k into two
// chains was 2% faster on the edge tiles but rounded differently.

#define ROW4(aoff, lo, hi, breg0, breg1, areg) \
	VBROADCASTSS aoff(A_PTR), areg \
	VFMADD231PS  breg0, areg, lo   \
	VFMADD231PS  breg1, areg, hi

#define STEP4(z0, z1, z2, z3, z4, z5, z6, z7, b0, b1, a0, a1) \
	VMOVUPS (B_PTR), b0         \
	VMOVUPS 64(B_PTR), b1       \
	ROW4(0, z0, z1, b0, b1, a0) \
	ROW4(4, z2, z3, b0, b1, a1) \
	ROW4(8, z4, z5, b0, b1, a0) \
	ROW4(12, z6, z7, b0, b1, a1) \
	ADDQ    R10, A_PTR          \
	ADDQ    $128, B_PTR

// func sgemmKernel4x32(k int, a, b, c *float32, ldc int, beta float32, astride int)
TEXT ·sgemmKernel4x32(SB), NOSPLIT, $0-56
	EDGE_START
	ZERO8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)

loop2:
	CMPQ K_REM, $2
	JL   tail
	STEP4(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z24, Z25, Z26, Z27)
	STEP4(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z28, Z29, Z30, Z31)
	SUBQ $2, K_REM
	JMP  loop2

tail:
	TESTQ K_REM, K_REM
	JE    sum
	STEP4(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z24, Z25, Z26, Z27)

sum:
	FINISH(TILE4, Z26, X24, X25)

// sgemmKernel12x32A is sgemmKernel12x32 with its A panel read in place from
// 12 rows of a row-major A, lda floats apart, instead of a packed panel:
// rows 0-3 from AX, 4-7 from SI, 8-11 from DI, each at 0, lda, 2*lda
// (R10) and 3*lda (R12) bytes on. The FMA chain of each element is the
// packed kernel's, so C gets the same bits.

#define AROW(addr, lo, hi, areg) \
	VBROADCASTSS addr, areg       \
	VFMADD231PS  Z24, areg, lo    \
	VFMADD231PS  Z25, areg, hi

#define AQUAD(off, base, r0, r1, r2, r3, r4, r5, r6, r7) \
	AROW(off(base), r0, r1, Z26)         \
	AROW(off(base)(R10*1), r2, r3, Z27)  \
	AROW(off(base)(R10*2), r4, r5, Z26)  \
	AROW(off(base)(R12*1), r6, r7, Z27)

// ASTEP is one k step at A offset off (bytes) from the row pointers.
#define ASTEP(off) \
	VMOVUPS (B_PTR), Z24                                        \
	VMOVUPS 64(B_PTR), Z25                                      \
	AQUAD(off, A_PTR, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)           \
	AQUAD(off, SI, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)        \
	AQUAD(off, DI, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)      \
	ADDQ    $128, B_PTR

#define AADVANCE(n) \
	ADDQ n, A_PTR \
	ADDQ n, SI    \
	ADDQ n, DI

// func sgemmKernel12x32A(k int, a, b, c *float32, ldc int, beta float32, lda int)
TEXT ·sgemmKernel12x32A(SB), NOSPLIT, $0-56
	KERNEL_ARGS
	MOVQ lda+48(FP), R10
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R12
	LEAQ (A_PTR)(R10*4), SI
	LEAQ (SI)(R10*4), DI
	PREFETCH_12ROWS
	ZERO_TILE12

aloop4:
	CMPQ K_REM, $4
	JL   aloop1
	ASTEP(0)
	ASTEP(4)
	ASTEP(8)
	ASTEP(12)
	AADVANCE($16)
	SUBQ $4, K_REM
	JMP  aloop4

aloop1:
	TESTQ K_REM, K_REM
	JE    store
	ASTEP(0)
	AADVANCE($4)
	DECQ  K_REM
	JMP   aloop1

	FINISH(TILE12, Z26, X24, X25)
