//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"
#include "gemm_amd64.h"

// PB_ARGS loads packBT8's and packBT4's arguments (registers named where
// they are defined), strides in bytes. Here, before any TEXT, so that vet
// does not read its FP references as another function's.
#define PB_ARGS \
	MOVQ dst+0(FP), PB_DST               \
	MOVQ src+8(FP), PB_SRC               \
	MOVQ ldb+16(FP), PB_LDB              \
	MOVQ k+24(FP), PB_K                  \
	MOVQ ldd+32(FP), PB_LDD              \
	SHLQ $2, PB_LDB                      \
	SHLQ $2, PB_LDD                      \
	LEAQ (PB_LDB)(PB_LDB*2), PB_LDB3     \
	LEAQ (PB_LDD)(PB_LDD*2), PB_LDD3     \
	LEAQ (PB_SRC)(PB_LDB*4), PB_SRC4

// The 6x16 AVX2+FMA micro-kernel. Twelve ymm accumulators hold the 6x16 C
// tile (row i in Y(2i), Y(2i+1)); each k step loads 16 floats of the
// packed B panel into two registers and broadcasts the 6 packed A values,
// alternating two broadcast registers so consecutive FMAs are independent.
// That is 12 FMAs per 2 loads + 6 broadcasts, enough to keep both FMA pipes
// of a Zen 3 / Haswell core busy from L1.
//
// With src != nil the kernel reads its B panel from a row-major B (row p
// at src + p*ldsrc floats) and writes it packed to b, prefetching the same
// row of the next panel (PSTEP; see sgemm_avx512_amd64.s).

#define B_LO Y12
#define B_HI Y13
#define A_0 Y14
#define A_1 Y15

// PREFETCH_ROW touches one 64-byte row of the C tile early, so its lines
// arrive while the loop runs.
#define PREFETCH_ROW \
	PREFETCHT0 (R9)   \
	PREFETCHT0 60(R9) \
	ADDQ       LDC_BYTES, R9

#define PREFETCH_6ROWS \
	PREFETCH_4ROWS \
	PREFETCH_ROW   \
	PREFETCH_ROW

#define ZERO_TILE6 \
	ZERO4(Y0, Y1, Y2, Y3) \
	ZERO4(Y4, Y5, Y6, Y7) \
	ZERO4(Y8, Y9, Y10, Y11)

// ROW multiplies the B row in B_LO/B_HI by the A value at aoff into one
// row of accumulators.
#define ROW(aoff, areg, lo, hi) \
	VBROADCASTSS aoff(A_PTR), areg \
	VFMADD231PS  B_LO, areg, lo    \
	VFMADD231PS  B_HI, areg, hi

#define STEP(b0, b1, a0, a1, a2, a3, a4, a5) \
	VMOVUPS b0(B_PTR), B_LO  \
	VMOVUPS b1(B_PTR), B_HI  \
	ROW(a0, A_0, Y0, Y1)     \
	ROW(a1, A_1, Y2, Y3)     \
	ROW(a2, A_0, Y4, Y5)     \
	ROW(a3, A_1, Y6, Y7)     \
	ROW(a4, A_0, Y8, Y9)     \
	ROW(a5, A_1, Y10, Y11)

#define PSTEP \
	VMOVUPS    (SI), B_LO      \
	VMOVUPS    32(SI), B_HI    \
	PREFETCHT0 64(SI)          \
	PREFETCHT0 127(SI)         \
	VMOVUPS    B_LO, (B_PTR)   \
	VMOVUPS    B_HI, 32(B_PTR) \
	STEP(0, 32, 0, 4, 8, 12, 16, 20) \
	ADDQ       $24, A_PTR      \
	ADDQ       $64, B_PTR      \
	ADDQ       R11, SI

// STORE0 writes one C row from two accumulators; STOREB adds beta*C
// (beta in A_0) first.
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

// TILE4 and TILE6 apply op, STORE0 or STOREB, to the rows of a tile.
#define TILE4(op) \
	op(Y0, Y1) \
	op(Y2, Y3) \
	op(Y4, Y5) \
	op(Y6, Y7)

#define TILE6(op) \
	TILE4(op)   \
	op(Y8, Y9)  \
	op(Y10, Y11)

// func sgemmKernel6x16(k int, a, b, c *float32, ldc int, beta float32, src *float32, ldsrc int)
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-64
	KERNEL_START(PREFETCH_6ROWS, ZERO_TILE6)

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

	FINISH(TILE6, A_0, X13, X14)

// sgemmKernel4x16 computes 4 rows of a 16-column tile from a packed A
// panel whose rows are astride floats apart, for the last rows of a block
// when M is not a multiple of 6. Eight accumulators are just enough
// independent FMA chains for two pipes of latency 4.

#define STEP4 \
	VMOVUPS (B_PTR), B_LO   \
	VMOVUPS 32(B_PTR), B_HI \
	ROW(0, A_0, Y0, Y1)     \
	ROW(4, A_1, Y2, Y3)     \
	ROW(8, A_0, Y4, Y5)     \
	ROW(12, A_1, Y6, Y7)    \
	ADDQ    R10, A_PTR      \
	ADDQ    $64, B_PTR

// func sgemmKernel4x16(k int, a, b, c *float32, ldc int, beta float32, astride int)
TEXT ·sgemmKernel4x16(SB), NOSPLIT, $0-56
	EDGE_START
	ZERO4(Y0, Y1, Y2, Y3)
	ZERO4(Y4, Y5, Y6, Y7)

loop:
	TESTQ K_REM, K_REM
	JE    store
	STEP4
	DECQ  K_REM
	JMP   loop

	FINISH(TILE4, A_0, X13, X14)

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
	PB_ARGS

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

// packBT4 is packBT8 for 4 stored rows: the last rows of a 12-row A
// panel, which an overlapping 8-row transpose packed twice, and the two
// overlapping halves of a 6-row one (AVX2), which had no assembly. A 4x8 register
// transpose (unpack, shuffle) leaves depth p in the low half of one
// register and depth p+4 in the high half; 128-bit stores write them.

// func packBT4(dst, src *float32, ldb, k, ldd int)
TEXT ·packBT4(SB), NOSPLIT, $0-40
	PB_ARGS

p4loop:
	CMPQ         PB_K, $8
	JL           p4done
	VMOVUPS      (PB_SRC), Y0
	VMOVUPS      (PB_SRC)(PB_LDB*1), Y1
	VMOVUPS      (PB_SRC)(PB_LDB*2), Y2
	VMOVUPS      (PB_SRC)(PB_LDB3*1), Y3
	// Prefetch 8 rows on at the same depth: the next A panel's rows 4-7,
	// which its first 8-row transpose reads (its own prefetch covers 8 on).
	LEAQ         (PB_SRC4)(PB_LDB*4), PB_DST4
	PREFETCHT0   (PB_DST4)
	PREFETCHT0   (PB_DST4)(PB_LDB*1)
	PREFETCHT0   (PB_DST4)(PB_LDB*2)
	PREFETCHT0   (PB_DST4)(PB_LDB3*1)
	VUNPCKLPS    Y1, Y0, Y4
	VUNPCKHPS    Y1, Y0, Y5
	VUNPCKLPS    Y3, Y2, Y6
	VUNPCKHPS    Y3, Y2, Y7
	VSHUFPS      $0x44, Y6, Y4, Y0
	VSHUFPS      $0xEE, Y6, Y4, Y1
	VSHUFPS      $0x44, Y7, Y5, Y2
	VSHUFPS      $0xEE, Y7, Y5, Y3
	LEAQ         (PB_DST)(PB_LDD*4), PB_DST4
	VMOVUPS      X0, (PB_DST)
	VMOVUPS      X1, (PB_DST)(PB_LDD*1)
	VMOVUPS      X2, (PB_DST)(PB_LDD*2)
	VMOVUPS      X3, (PB_DST)(PB_LDD3*1)
	VEXTRACTF128 $1, Y0, (PB_DST4)
	VEXTRACTF128 $1, Y1, (PB_DST4)(PB_LDD*1)
	VEXTRACTF128 $1, Y2, (PB_DST4)(PB_LDD*2)
	VEXTRACTF128 $1, Y3, (PB_DST4)(PB_LDD3*1)
	LEAQ         (PB_DST4)(PB_LDD*4), PB_DST
	ADDQ         $32, PB_SRC
	ADDQ         $32, PB_SRC4
	SUBQ         $8, PB_K
	JMP          p4loop

p4done:
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

