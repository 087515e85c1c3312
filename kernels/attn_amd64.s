//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// AttnGemm's tiles (attn_amd64.go): a 6x64 tile for whole groups of six
// rows (24 zmm accumulators, row r in Z(8+4r)..Z(11+4r)) and a 4x64 tile
// for the rest (16, row r in Z(16+4r)..Z(19+4r)). Each step loads 64
// floats of a B row into Z0-Z3 (masked: the lanes past N are neither
// read nor written) and broadcasts A(r, p) of the rows; A's rows are
// pointers plus the step along p, so a transposed A (acs = lda) costs the
// same as a row-major one.
//
// Both: CX k, R8 row 0 of A, R9 the row stride of A in bytes, DX the
// step along p in bytes, SI B, DI B's row stride, R13 C, BX C's row
// stride, K1-K4 the masks of Z0-Z3.

#define ARGS \
	MOVQ k+0(FP), CX     \
	MOVQ a+8(FP), R8     \
	MOVQ ars+16(FP), R9  \
	SHLQ $2, R9          \
	MOVQ acs+24(FP), DX  \
	SHLQ $2, DX          \
	MOVQ b+32(FP), SI    \
	MOVQ ldb+40(FP), DI  \
	SHLQ $2, DI          \
	MOVQ c+48(FP), R13   \
	MOVQ ldc+56(FP), BX  \
	SHLQ $2, BX

// MASKS sets K1-K4 from the 64 bits in AX.
#define MASKS \
	KMOVW AX, K1 \
	SHRQ  $16, AX \
	KMOVW AX, K2 \
	SHRQ  $16, AX \
	KMOVW AX, K3 \
	SHRQ  $16, AX \
	KMOVW AX, K4

// LOADB loads a B row under the masks; LOADBFULL all 64 lanes (a masked
// load may cost an ALU uop).
#define LOADB \
	VMOVUPS.Z (SI), K1, Z0    \
	VMOVUPS.Z 64(SI), K2, Z1  \
	VMOVUPS.Z 128(SI), K3, Z2 \
	VMOVUPS.Z 192(SI), K4, Z3

#define LOADBFULL \
	VMOVUPS (SI), Z0    \
	VMOVUPS 64(SI), Z1  \
	VMOVUPS 128(SI), Z2 \
	VMOVUPS 192(SI), Z3

#define FMA4(x, c0, c1, c2, c3) \
	VFMADD231PS Z0, x, c0 \
	VFMADD231PS Z1, x, c1 \
	VFMADD231PS Z2, x, c2 \
	VFMADD231PS Z3, x, c3

#define FMA2(x, c0, c1) \
	VFMADD231PS Z0, x, c0 \
	VFMADD231PS Z1, x, c1

#define FMA3(x, c0, c1, c2) \
	VFMADD231PS Z0, x, c0 \
	VFMADD231PS Z1, x, c1 \
	VFMADD231PS Z2, x, c2

// OUTROW finishes one row of C at (R13): adds C when acc (AX != 0; the
// jump skips the 8 instructions that do), stores under the masks, and
// moves R13 to the next row.
#define OUTROW(c0, c1, c2, c3) \
	TESTQ     AX, AX            \
	JZ        9(PC)             \
	VMOVUPS.Z (R13), K1, Z0     \
	VMOVUPS.Z 64(R13), K2, Z1   \
	VMOVUPS.Z 128(R13), K3, Z2  \
	VMOVUPS.Z 192(R13), K4, Z3  \
	VADDPS    Z0, c0, c0        \
	VADDPS    Z1, c1, c1        \
	VADDPS    Z2, c2, c2        \
	VADDPS    Z3, c3, c3        \
	VMOVUPS   c0, K1, (R13)     \
	VMOVUPS   c1, K2, 64(R13)   \
	VMOVUPS   c2, K3, 128(R13)  \
	VMOVUPS   c3, K4, 192(R13)  \
	ADDQ      BX, R13

// The 4x64 tile's rows of A are R8, R10, R11, R9 plus the offset R12.
#define BCAST4 \
	VBROADCASTSS (R8)(R12*1), Z4  \
	VBROADCASTSS (R10)(R12*1), Z5 \
	VBROADCASTSS (R11)(R12*1), Z6 \
	VBROADCASTSS (R9)(R12*1), Z7

// NEXT4 steps to the next p and counts down (the JNZ follows).
#define NEXT4 \
	ADDQ DX, R12 \
	ADDQ DI, SI  \
	DECQ CX

#define STEP4 \
	BCAST4                         \
	FMA4(Z4, Z16, Z17, Z18, Z19)   \
	FMA4(Z5, Z20, Z21, Z22, Z23)   \
	FMA4(Z6, Z24, Z25, Z26, Z27)   \
	FMA4(Z7, Z28, Z29, Z30, Z31)   \
	NEXT4

// func attnKernel4x64(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, rows int, mask uint64, acc, nv int)
TEXT ·attnKernel4x64(SB), NOSPLIT, $0-96
	ARGS

	// Rows past the last read row 0 again (their results are not stored).
	MOVQ    rows+64(FP), R12
	LEAQ    (R8)(R9*1), R10
	LEAQ    (R10)(R9*1), R11
	LEAQ    (R11)(R9*1), R9
	CMPQ    R12, $2
	CMOVQLT R8, R10
	CMPQ    R12, $3
	CMOVQLT R8, R11
	CMPQ    R12, $4
	CMOVQLT R8, R9

	MOVQ mask+72(FP), AX
	MASKS
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	ZERO8(Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)
	XORQ R12, R12

	// The loop for the columns the mask covers: 4, 3, 2 or 1 zmm (the
	// diagonal tile's row groups need fewer than the full 64).
	MOVQ nv+88(FP), AX
	CMPQ AX, $3
	JEQ  loop3
	JGT  wide
	CMPQ AX, $2
	JEQ  loop2

loop1:
	VMOVUPS.Z   (SI), K1, Z0
	BCAST4
	VFMADD231PS Z0, Z4, Z16
	VFMADD231PS Z0, Z5, Z20
	VFMADD231PS Z0, Z6, Z24
	VFMADD231PS Z0, Z7, Z28
	NEXT4
	JNZ         loop1
	JMP         out4

loop2:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	BCAST4
	FMA2(Z4, Z16, Z17)
	FMA2(Z5, Z20, Z21)
	FMA2(Z6, Z24, Z25)
	FMA2(Z7, Z28, Z29)
	NEXT4
	JNZ       loop2
	JMP       out4

loop3:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS.Z 128(SI), K3, Z2
	BCAST4
	FMA3(Z4, Z16, Z17, Z18)
	FMA3(Z5, Z20, Z21, Z22)
	FMA3(Z6, Z24, Z25, Z26)
	FMA3(Z7, Z28, Z29, Z30)
	NEXT4
	JNZ       loop3
	JMP       out4

wide:
	MOVQ mask+72(FP), AX
	CMPQ AX, $-1
	JNE  loop4

full4:
	LOADBFULL
	STEP4
	JNZ full4
	JMP out4

loop4:
	LOADB
	STEP4
	JNZ loop4

out4:
	MOVQ acc+80(FP), AX
	MOVQ rows+64(FP), R12
	OUTROW(Z16, Z17, Z18, Z19)
	CMPQ R12, $2
	JLT  done4
	OUTROW(Z20, Z21, Z22, Z23)
	CMPQ R12, $3
	JLT  done4
	OUTROW(Z24, Z25, Z26, Z27)
	CMPQ R12, $4
	JLT  done4
	OUTROW(Z28, Z29, Z30, Z31)

done4:
	VZEROUPPER
	RET

// The 6x64 tile: 24 FMAs per 4 loads of B and 6 broadcasts. With the row
// stride in R9 the rows of A are 0, 1, 2, 4 from R8 and 3, 5 from R10
// (row 3), both stepping along p.
#define STEP6 \
	VBROADCASTSS (R8), Z4          \
	VBROADCASTSS (R8)(R9*1), Z5    \
	VBROADCASTSS (R8)(R9*2), Z6    \
	VBROADCASTSS (R10), Z7         \
	FMA4(Z4, Z8, Z9, Z10, Z11)     \
	FMA4(Z5, Z12, Z13, Z14, Z15)   \
	FMA4(Z6, Z16, Z17, Z18, Z19)   \
	FMA4(Z7, Z20, Z21, Z22, Z23)   \
	VBROADCASTSS (R8)(R9*4), Z4    \
	VBROADCASTSS (R10)(R9*2), Z5   \
	FMA4(Z4, Z24, Z25, Z26, Z27)   \
	FMA4(Z5, Z28, Z29, Z30, Z31)   \
	ADDQ DX, R8                    \
	ADDQ DX, R10                   \
	ADDQ DI, SI                    \
	DECQ CX

// func attnKernel6x64(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, mask uint64, acc int)
TEXT ·attnKernel6x64(SB), NOSPLIT, $0-80
	ARGS
	LEAQ (R9)(R9*2), AX
	LEAQ (R8)(AX*1), R10

	MOVQ mask+64(FP), AX
	MASKS
	ZERO8(Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	ZERO8(Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)

	MOVQ mask+64(FP), AX
	CMPQ AX, $-1
	JEQ  full6

loop6:
	LOADB
	STEP6
	JNZ loop6
	JMP out6

full6:
	LOADBFULL
	STEP6
	JNZ full6

out6:
	MOVQ acc+72(FP), AX
	OUTROW(Z8, Z9, Z10, Z11)
	OUTROW(Z12, Z13, Z14, Z15)
	OUTROW(Z16, Z17, Z18, Z19)
	OUTROW(Z20, Z21, Z22, Z23)
	OUTROW(Z24, Z25, Z26, Z27)
	OUTROW(Z28, Z29, Z30, Z31)
	VZEROUPPER
	RET
