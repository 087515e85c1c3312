//go:build !purego

#include "textflag.h"

// The 6x16 AVX2+FMA micro-kernel. Twelve ymm accumulators hold the 6x16 C
// tile (row i in Y(2i), Y(2i+1)); each k step loads 16 floats of the
// packed B panel into two registers and broadcasts the 6 packed A values,
// alternating two broadcast registers so consecutive FMAs are independent.
// That is 12 FMAs per 2 loads + 6 broadcasts, enough to keep both FMA pipes
// of a Zen 3 / Haswell core busy from L1.

#define K_REM CX
#define A_PTR AX
#define B_PTR BX
#define C_PTR DX
#define LDC_BYTES R8
#define B_LO Y12
#define B_HI Y13
#define A_0 Y14
#define A_1 Y15

#define STEP(b0, b1, a0, a1, a2, a3, a4, a5) \
	VMOVUPS      b0(B_PTR), B_LO   \
	VMOVUPS      b1(B_PTR), B_HI   \
	VBROADCASTSS a0(A_PTR), A_0    \
	VFMADD231PS  B_LO, A_0, Y0     \
	VFMADD231PS  B_HI, A_0, Y1     \
	VBROADCASTSS a1(A_PTR), A_1    \
	VFMADD231PS  B_LO, A_1, Y2     \
	VFMADD231PS  B_HI, A_1, Y3     \
	VBROADCASTSS a2(A_PTR), A_0    \
	VFMADD231PS  B_LO, A_0, Y4     \
	VFMADD231PS  B_HI, A_0, Y5     \
	VBROADCASTSS a3(A_PTR), A_1    \
	VFMADD231PS  B_LO, A_1, Y6     \
	VFMADD231PS  B_HI, A_1, Y7     \
	VBROADCASTSS a4(A_PTR), A_0    \
	VFMADD231PS  B_LO, A_0, Y8     \
	VFMADD231PS  B_HI, A_0, Y9     \
	VBROADCASTSS a5(A_PTR), A_1    \
	VFMADD231PS  B_LO, A_1, Y10    \
	VFMADD231PS  B_HI, A_1, Y11

// STORE0 writes one C row from two accumulators; STOREB adds beta*C first.
#define STORE0(lo, hi) \
	VMOVUPS lo, (C_PTR)   \
	VMOVUPS hi, 32(C_PTR) \
	ADDQ    LDC_BYTES, C_PTR

#define STOREB(lo, hi) \
	VFMADD231PS (C_PTR), A_0, lo   \
	VFMADD231PS 32(C_PTR), A_0, hi \
	VMOVUPS     lo, (C_PTR)        \
	VMOVUPS     hi, 32(C_PTR)      \
	ADDQ        LDC_BYTES, C_PTR

// func sgemmKernel6x16(k int, a, b, c *float32, ldc int, beta float32)
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-44
	MOVQ k+0(FP), K_REM
	MOVQ a+8(FP), A_PTR
	MOVQ b+16(FP), B_PTR
	MOVQ c+24(FP), C_PTR
	MOVQ ldc+32(FP), LDC_BYTES
	SHLQ $2, LDC_BYTES

	// Touch the C tile early so its lines arrive while the loop runs.
	MOVQ       C_PTR, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       LDC_BYTES, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       LDC_BYTES, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       LDC_BYTES, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       LDC_BYTES, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       LDC_BYTES, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

loop4:
	CMPQ K_REM, $4
	JL   loop1
	STEP(0, 32, 0, 4, 8, 12, 16, 20)
	STEP(64, 96, 24, 28, 32, 36, 40, 44)
	STEP(128, 160, 48, 52, 56, 60, 64, 68)
	STEP(192, 224, 72, 76, 80, 84, 88, 92)
	ADDQ $96, A_PTR
	ADDQ $256, B_PTR
	SUBQ $4, K_REM
	JMP  loop4

loop1:
	TESTQ K_REM, K_REM
	JE    store
	STEP(0, 32, 0, 4, 8, 12, 16, 20)
	ADDQ  $24, A_PTR
	ADDQ  $64, B_PTR
	DECQ  K_REM
	JMP   loop1

store:
	VXORPS   X13, X13, X13
	VMOVSS   beta+40(FP), X14
	VUCOMISS X13, X14
	JNE      storebeta
	JP       storebeta
	STORE0(Y0, Y1)
	STORE0(Y2, Y3)
	STORE0(Y4, Y5)
	STORE0(Y6, Y7)
	STORE0(Y8, Y9)
	STORE0(Y10, Y11)
	VZEROUPPER
	RET

storebeta:
	VBROADCASTSS beta+40(FP), A_0
	STOREB(Y0, Y1)
	STOREB(Y2, Y3)
	STOREB(Y4, Y5)
	STOREB(Y6, Y7)
	STOREB(Y8, Y9)
	STOREB(Y10, Y11)
	VZEROUPPER
	RET

// packBT8 packs 8 stored rows of a transposed B into a B panel of row
// stride ldd: 8 depths at a time, an 8x8 register transpose (unpack,
// shuffle, 128-bit permute) turns 8 row segments into 8 panel rows.

#define PB_SRC SI
#define PB_DST DI
#define PB_DST4 R12
#define PB_LDB R8
#define PB_LDB3 R9
#define PB_LDD R10
#define PB_LDD3 R11
#define PB_SRC4 R13
#define PB_K CX

// func packBT8(dst, src *float32, ldb, k, ldd int)
TEXT ·packBT8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), PB_DST
	MOVQ src+8(FP), PB_SRC
	MOVQ ldb+16(FP), PB_LDB
	MOVQ k+24(FP), PB_K
	MOVQ ldd+32(FP), PB_LDD
	SHLQ $2, PB_LDB
	SHLQ $2, PB_LDD
	LEAQ (PB_LDB)(PB_LDB*2), PB_LDB3
	LEAQ (PB_LDD)(PB_LDD*2), PB_LDD3
	LEAQ (PB_SRC)(PB_LDB*4), PB_SRC4

pbloop:
	CMPQ       PB_K, $8
	JL         pbdone
	VMOVUPS    (PB_SRC), Y0
	VMOVUPS    (PB_SRC)(PB_LDB*1), Y1
	VMOVUPS    (PB_SRC)(PB_LDB*2), Y2
	VMOVUPS    (PB_SRC)(PB_LDB3*1), Y3
	VMOVUPS    (PB_SRC4), Y4
	VMOVUPS    (PB_SRC4)(PB_LDB*1), Y5
	VMOVUPS    (PB_SRC4)(PB_LDB*2), Y6
	VMOVUPS    (PB_SRC4)(PB_LDB3*1), Y7
	// Prefetch the next 8 stored rows at the same depth (the caller's next
	// call): short row segments far apart in a weight too big for the
	// caches otherwise arrive one demand miss at a time.
	LEAQ       (PB_SRC4)(PB_LDB*4), PB_DST4
	PREFETCHT0 (PB_DST4)
	PREFETCHT0 (PB_DST4)(PB_LDB*1)
	PREFETCHT0 (PB_DST4)(PB_LDB*2)
	PREFETCHT0 (PB_DST4)(PB_LDB3*1)
	LEAQ       (PB_DST4)(PB_LDB*4), PB_DST4
	PREFETCHT0 (PB_DST4)
	PREFETCHT0 (PB_DST4)(PB_LDB*1)
	PREFETCHT0 (PB_DST4)(PB_LDB*2)
	PREFETCHT0 (PB_DST4)(PB_LDB3*1)
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y0
	VUNPCKHPS  Y3, Y2, Y1
	VUNPCKLPS  Y5, Y4, Y2
	VUNPCKHPS  Y5, Y4, Y3
	VUNPCKLPS  Y7, Y6, Y4
	VUNPCKHPS  Y7, Y6, Y5
	VSHUFPS    $0x44, Y0, Y8, Y10
	VSHUFPS    $0xEE, Y0, Y8, Y11
	VSHUFPS    $0x44, Y1, Y9, Y12
	VSHUFPS    $0xEE, Y1, Y9, Y13
	VSHUFPS    $0x44, Y4, Y2, Y14
	VSHUFPS    $0xEE, Y4, Y2, Y15
	VSHUFPS    $0x44, Y5, Y3, Y6
	VSHUFPS    $0xEE, Y5, Y3, Y7
	VPERM2F128 $0x20, Y14, Y10, Y0
	VPERM2F128 $0x31, Y14, Y10, Y1
	VPERM2F128 $0x20, Y15, Y11, Y2
	VPERM2F128 $0x31, Y15, Y11, Y3
	VPERM2F128 $0x20, Y6, Y12, Y4
	VPERM2F128 $0x31, Y6, Y12, Y5
	VPERM2F128 $0x20, Y7, Y13, Y8
	VPERM2F128 $0x31, Y7, Y13, Y9
	LEAQ       (PB_DST)(PB_LDD*4), PB_DST4
	VMOVUPS    Y0, (PB_DST)
	VMOVUPS    Y2, (PB_DST)(PB_LDD*1)
	VMOVUPS    Y4, (PB_DST)(PB_LDD*2)
	VMOVUPS    Y8, (PB_DST)(PB_LDD3*1)
	VMOVUPS    Y1, (PB_DST4)
	VMOVUPS    Y3, (PB_DST4)(PB_LDD*1)
	VMOVUPS    Y5, (PB_DST4)(PB_LDD*2)
	VMOVUPS    Y9, (PB_DST4)(PB_LDD3*1)
	LEAQ       (PB_DST4)(PB_LDD*4), PB_DST
	ADDQ       $32, PB_SRC
	ADDQ       $32, PB_SRC4
	SUBQ       $8, PB_K
	JMP        pbloop

pbdone:
	VZEROUPPER
	RET

// func packBRow32(dst, src *float32, n, step, next int)
// Copies n runs of 32 floats, src[i*32:] to dst[i*step:], prefetching the
// same columns next floats ahead (the next row of B): packing a wide B
// reads one long row segment after another, and each new row would
// otherwise start with cache misses the hardware prefetcher has not seen
// coming.
TEXT ·packBRow32(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ step+24(FP), R8
	SHLQ $2, R8
	MOVQ next+32(FP), R9
	SHLQ $2, R9

rowloop:
	TESTQ      CX, CX
	JE         rowdone
	PREFETCHT0 (SI)(R9*1)
	PREFETCHT0 64(SI)(R9*1)
	VMOVUPS    (SI), Y0
	VMOVUPS    32(SI), Y1
	VMOVUPS    64(SI), Y2
	VMOVUPS    96(SI), Y3
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	VMOVUPS    Y2, 64(DI)
	VMOVUPS    Y3, 96(DI)
	ADDQ       $128, SI
	ADDQ       R8, DI
	DECQ       CX
	JMP        rowloop

rowdone:
	VZEROUPPER
	RET

// func packARow12(dst, src *float32, n, step int)
// Copies n runs of 12 floats, src[i*12:] to dst[i*step:]: one stored row of
// a transposed A dealt out to n 12-row panels (a 48-byte array copy in Go
// compiled to a memmove call per run).
TEXT ·packARow12(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ step+24(FP), R8
	SHLQ $2, R8

arowloop:
	TESTQ   CX, CX
	JE      arowdone
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), X1
	VMOVUPS Y0, (DI)
	VMOVUPS X1, 32(DI)
	ADDQ    $48, SI
	ADDQ    R8, DI
	DECQ    CX
	JMP     arowloop

arowdone:
	VZEROUPPER
	RET
