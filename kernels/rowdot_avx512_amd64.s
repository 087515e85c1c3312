//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// The row-exact dot-product tile (rowdot.go): up to 4 rows of A against 4
// rows of B, 16 lanes per product. Each of the 16 products has its own zmm
// accumulator, one FMA chain per lane, so a product's bits do not depend
// on the rows or columns it shares the tile with; sharing is what makes it
// fast: each loaded 16-float chunk of a B row feeds up to 4 FMAs and each
// chunk of an A row 4 more, where the AVX2 dots did one FMA per load.
//
// The accumulator of row r, column c is Z(16+4c+r). The reduction sums the
// lanes l of every accumulator in the same tree, (l, l+8), (l, l+4),
// (l, l+2), (l, l+1), as rowDotGeneric does, while packing the 16 results
// into one register: each level adds the lower half of every partial
// vector to its upper half, two partials per instruction, so no product's
// sum depends on which register slot it sits in.

// HALF8 adds the upper 8 lanes of a and b to their lower 8 lanes, leaving
// a's 8 sums in the low half of a and b's in the high half.
#define HALF8(a, b) \
	VSHUFF32X4 $0x44, b, a, Z0 \
	VSHUFF32X4 $0xEE, b, a, Z1 \
	VADDPS     Z1, Z0, a

// HALF4 does the same for partials of 8 lanes (two per register), leaving
// four partials of 4 lanes in a, one per 128-bit lane: a's two, then b's.
#define HALF4(a, b) \
	VSHUFF32X4 $0x88, b, a, Z0 \
	VSHUFF32X4 $0xDD, b, a, Z1 \
	VADDPS     Z1, Z0, a

// HALF2 halves partials of 4 lanes (one per 128-bit lane of a and of b)
// into pairs: in each 128-bit lane, a's pair then b's.
#define HALF2(a, b) \
	VUNPCKLPD b, a, Z0 \
	VUNPCKHPD b, a, Z1 \
	VADDPS    Z1, Z0, a

// FMA4 multiplies the A chunk in x by the four B chunks in Z4-Z7 into the
// accumulators of one row.
#define FMA4(x, c0, c1, c2, c3) \
	VFMADD231PS Z4, x, c0 \
	VFMADD231PS Z5, x, c1 \
	VFMADD231PS Z6, x, c2 \
	VFMADD231PS Z7, x, c3

// LOADB loads the next 16 floats of the four B rows into Z4-Z7.
#define LOADB \
	VMOVUPS (R12)(SI*1), Z4 \
	VMOVUPS (R13)(SI*1), Z5 \
	VMOVUPS (BX)(SI*1), Z6  \
	VMOVUPS (AX)(SI*1), Z7

// LOADBZ is LOADB for the tail: the lanes outside mask K1 zeroed.
#define LOADBZ \
	VMOVUPS.Z (R12)(SI*1), K1, Z4 \
	VMOVUPS.Z (R13)(SI*1), K1, Z5 \
	VMOVUPS.Z (BX)(SI*1), K1, Z6  \
	VMOVUPS.Z (AX)(SI*1), K1, Z7

#define FMA16 \
	FMA4(Z0, Z16, Z20, Z24, Z28) \
	FMA4(Z1, Z17, Z21, Z25, Z29) \
	FMA4(Z2, Z18, Z22, Z26, Z30) \
	FMA4(Z3, Z19, Z23, Z27, Z31)

// PREFETCHB asks for the B chunks 16 KB ahead of the four B rows into L2.
// A 4-row pass spends 16 FMAs per 4 loaded B chunks, so the out-of-order
// window holds few B cache lines in flight and, with the weights streaming
// from memory (decode), the pass ran at the memory latency: an 8-row step
// of a serving batch read the weights at half the rate of one row. The
// rows of a Linear's weights are contiguous, so 16 KB past the four rows
// is the rows of the next tiles (1 KB to 32 KB ahead measured: 16 KB was
// best); prefetches past the end of B are hints and never fault. The
// 1-row pass gains from it too (8% on a GPT-2 decode step).
#define PREFETCHB \
	PREFETCHT1 16384(R12)(SI*1) \
	PREFETCHT1 16384(R13)(SI*1) \
	PREFETCHT1 16384(BX)(SI*1)  \
	PREFETCHT1 16384(AX)(SI*1)

// STEP4 and STEP1 do 16 elements of four rows of A or one; the Z forms
// are the tail, the lanes outside mask K1 zero-filled: they add 0·0 to
// every product, whatever the tile, so no product depends on its
// neighbours. The main loop's loads are unmasked: a masked load costs an
// ALU slot on the ports the FMAs need.
#define STEP4 \
	PREFETCHB                    \
	LOADB                        \
	VMOVUPS (R8)(SI*1), Z0       \
	VMOVUPS (R9)(SI*1), Z1       \
	VMOVUPS (R10)(SI*1), Z2      \
	VMOVUPS (R11)(SI*1), Z3      \
	FMA16

#define STEP4Z \
	LOADBZ                             \
	VMOVUPS.Z (R8)(SI*1), K1, Z0       \
	VMOVUPS.Z (R9)(SI*1), K1, Z1       \
	VMOVUPS.Z (R10)(SI*1), K1, Z2      \
	VMOVUPS.Z (R11)(SI*1), K1, Z3      \
	FMA16

#define STEP1 \
	PREFETCHB                    \
	LOADB                        \
	VMOVUPS (R8)(SI*1), Z0       \
	FMA4(Z0, Z16, Z20, Z24, Z28)

#define STEP1Z \
	LOADBZ                             \
	VMOVUPS.Z (R8)(SI*1), K1, Z0       \
	FMA4(Z0, Z16, Z20, Z24, Z28)

// func rowTileAVX512(p *[8]*float32, n, rows int, mask uint16, out *[16]float32)
// p holds the rows a0..a3 of A, then b0..b3 of B; n is the length of the
// products, mask has a bit for each of the n%16 tail lanes, rows is 1 or 4
// (with 1, only a0 is read and out[0:4] is set). out[4r+c] = a_r·b_c.
TEXT ·rowTileAVX512(SB), NOSPLIT, $0-40
	MOVQ  p+0(FP), AX
	MOVQ  n+8(FP), CX
	MOVQ  rows+16(FP), DX
	MOVWLZX mask+24(FP), DI
	KMOVW DI, K1
	MOVQ  0(AX), R8
	MOVQ  8(AX), R9
	MOVQ  16(AX), R10
	MOVQ  24(AX), R11
	MOVQ  32(AX), R12
	MOVQ  40(AX), R13
	MOVQ  48(AX), BX
	MOVQ  56(AX), AX
	ANDQ  $~15, CX
	SHLQ  $2, CX
	XORQ  SI, SI
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	ZERO8(Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)
	CMPQ  DX, $1
	JEQ   one
	TESTQ CX, CX
	JZ    tail4

loop4:
	STEP4
	ADDQ  $64, SI
	CMPQ  SI, CX
	JLT   loop4

tail4:
	KORTESTW K1, K1
	JZ       reduce
	STEP4Z
	JMP      reduce

one:
	TESTQ CX, CX
	JZ    tail1

loop1:
	STEP1
	ADDQ  $64, SI
	CMPQ  SI, CX
	JLT   loop1

tail1:
	KORTESTW K1, K1
	JZ       reduce
	STEP1Z

reduce:
	HALF8(Z16, Z17)
	HALF8(Z18, Z19)
	HALF8(Z20, Z21)
	HALF8(Z22, Z23)
	HALF8(Z24, Z25)
	HALF8(Z26, Z27)
	HALF8(Z28, Z29)
	HALF8(Z30, Z31)
	HALF4(Z16, Z18)
	HALF4(Z20, Z22)
	HALF4(Z24, Z26)
	HALF4(Z28, Z30)
	HALF2(Z16, Z20)
	HALF2(Z24, Z28)
	VSHUFPS $0x88, Z24, Z16, Z0
	VSHUFPS $0xDD, Z24, Z16, Z1
	VADDPS  Z1, Z0, Z0
	MOVQ    out+32(FP), DI
	VMOVUPS Z0, (DI)
	VZEROUPPER
	RET
