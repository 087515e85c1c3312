//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// AttnGemm's 4x64 tile (attn_amd64.go): sixteen zmm accumulators, row r
// in Z(16+4r)..Z(16+4r+3). Each step loads 64 floats of a B row (masked:
// the lanes past N are neither read nor written) into Z0-Z3 and
// broadcasts A(r, p) of the four rows into Z4-Z7; the rows of A are
// R8-R11 plus the step offset BX, so a transposed A (acs = lda) costs the
// same as a row-major one.

#define FMAROW(x, c0, c1, c2, c3) \
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

// BCAST broadcasts A(r, p) of the four rows into Z4-Z7.
#define BCAST \
	VBROADCASTSS (R8)(BX*1), Z4  \
	VBROADCASTSS (R9)(BX*1), Z5  \
	VBROADCASTSS (R10)(BX*1), Z6 \
	VBROADCASTSS (R11)(BX*1), Z7

// NEXT steps to the next p and counts down (the JNZ follows).
#define NEXT \
	ADDQ DX, BX \
	ADDQ DI, SI \
	DECQ CX

// STOREROW writes one row of the tile to (R12) under the masks K1-K4.
#define STOREROW(c0, c1, c2, c3) \
	VMOVUPS c0, K1, (R12)    \
	VMOVUPS c1, K2, 64(R12)  \
	VMOVUPS c2, K3, 128(R12) \
	VMOVUPS c3, K4, 192(R12)

// ADDROW adds the row of C at (R12) into the accumulators.
#define ADDROW(c0, c1, c2, c3) \
	VMOVUPS.Z (R12), K1, Z0    \
	VMOVUPS.Z 64(R12), K2, Z1  \
	VMOVUPS.Z 128(R12), K3, Z2 \
	VMOVUPS.Z 192(R12), K4, Z3 \
	VADDPS    Z0, c0, c0       \
	VADDPS    Z1, c1, c1       \
	VADDPS    Z2, c2, c2       \
	VADDPS    Z3, c3, c3

// OUTROW finishes one row: adds C when acc (AX != 0), then stores. The
// jump skips the 8 instructions of ADDROW.
#define OUTROW(c0, c1, c2, c3) \
	TESTQ AX, AX       \
	JZ    9(PC)        \
	ADDROW(c0, c1, c2, c3) \
	STOREROW(c0, c1, c2, c3)

// func attnKernel4x64(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, rows int, mask uint64, acc, nv int)
TEXT ·attnKernel4x64(SB), NOSPLIT, $0-96
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ ars+16(FP), AX
	SHLQ $2, AX
	MOVQ acs+24(FP), DX
	SHLQ $2, DX
	MOVQ b+32(FP), SI
	MOVQ ldb+40(FP), DI
	SHLQ $2, DI
	MOVQ c+48(FP), R12
	MOVQ ldc+56(FP), R13
	SHLQ $2, R13
	MOVQ rows+64(FP), BX

	// Rows past the last read row 0 again (their results are not stored).
	LEAQ    (R8)(AX*1), R9
	LEAQ    (R9)(AX*1), R10
	LEAQ    (R10)(AX*1), R11
	CMPQ    BX, $2
	CMOVQLT R8, R9
	CMPQ    BX, $3
	CMOVQLT R8, R10
	CMPQ    BX, $4
	CMOVQLT R8, R11

	MOVQ  mask+72(FP), AX
	KMOVW AX, K1
	SHRQ  $16, AX
	KMOVW AX, K2
	SHRQ  $16, AX
	KMOVW AX, K3
	SHRQ  $16, AX
	KMOVW AX, K4

	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	ZERO8(Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)
	XORQ BX, BX

	// The loop for the columns the mask covers: 4, 3, 2 or 1 zmm (the
	// diagonal tile's row groups need fewer than the full 64).
	MOVQ  nv+88(FP), AX
	CMPQ  AX, $3
	JEQ   loop3
	JGT   loop4
	CMPQ  AX, $2
	JEQ   loop2

loop1:
	VMOVUPS.Z    (SI), K1, Z0
	BCAST
	VFMADD231PS  Z0, Z4, Z16
	VFMADD231PS  Z0, Z5, Z20
	VFMADD231PS  Z0, Z6, Z24
	VFMADD231PS  Z0, Z7, Z28
	NEXT
	JNZ          loop1
	JMP          out

loop2:
	VMOVUPS.Z    (SI), K1, Z0
	VMOVUPS.Z    64(SI), K2, Z1
	BCAST
	FMA2(Z4, Z16, Z17)
	FMA2(Z5, Z20, Z21)
	FMA2(Z6, Z24, Z25)
	FMA2(Z7, Z28, Z29)
	NEXT
	JNZ          loop2
	JMP          out

loop3:
	VMOVUPS.Z    (SI), K1, Z0
	VMOVUPS.Z    64(SI), K2, Z1
	VMOVUPS.Z    128(SI), K3, Z2
	BCAST
	FMA3(Z4, Z16, Z17, Z18)
	FMA3(Z5, Z20, Z21, Z22)
	FMA3(Z6, Z24, Z25, Z26)
	FMA3(Z7, Z28, Z29, Z30)
	NEXT
	JNZ          loop3
	JMP          out

	MOVQ  mask+72(FP), AX
	CMPQ  AX, $-1
	JNE   loop4

	// All 64 columns: plain loads (a masked load may cost an ALU uop).
full:
	VMOVUPS      (SI), Z0
	VMOVUPS      64(SI), Z1
	VMOVUPS      128(SI), Z2
	VMOVUPS      192(SI), Z3
	BCAST
	FMAROW(Z4, Z16, Z17, Z18, Z19)
	FMAROW(Z5, Z20, Z21, Z22, Z23)
	FMAROW(Z6, Z24, Z25, Z26, Z27)
	FMAROW(Z7, Z28, Z29, Z30, Z31)
	NEXT
	JNZ          full
	JMP          out

loop4:
	VMOVUPS.Z    (SI), K1, Z0
	VMOVUPS.Z    64(SI), K2, Z1
	VMOVUPS.Z    128(SI), K3, Z2
	VMOVUPS.Z    192(SI), K4, Z3
	BCAST
	FMAROW(Z4, Z16, Z17, Z18, Z19)
	FMAROW(Z5, Z20, Z21, Z22, Z23)
	FMAROW(Z6, Z24, Z25, Z26, Z27)
	FMAROW(Z7, Z28, Z29, Z30, Z31)
	NEXT
	JNZ          loop4

out:
	MOVQ acc+80(FP), AX
	MOVQ rows+64(FP), BX
	OUTROW(Z16, Z17, Z18, Z19)
	CMPQ BX, $2
	JLT  done
	ADDQ R13, R12
	OUTROW(Z20, Z21, Z22, Z23)
	CMPQ BX, $3
	JLT  done
	ADDQ R13, R12
	OUTROW(Z24, Z25, Z26, Z27)
	CMPQ BX, $4
	JLT  done
	ADDQ R13, R12
	OUTROW(Z28, Z29, Z30, Z31)

done:
	VZEROUPPER
	RET

// attnKernel6x64 is attnKernel4x64 for 6 full rows: 24 accumulators
// (row r in Z(8+4r)..Z(11+4r)), 24 FMAs per 4 loads of B and 6
// broadcasts. The rows of A are 0, 1, 2, 4 from R8 and 3, 5 from R10.

#define F64(x, c0, c1, c2, c3) \
	VFMADD231PS Z0, x, c0 \
	VFMADD231PS Z1, x, c1 \
	VFMADD231PS Z2, x, c2 \
	VFMADD231PS Z3, x, c3

#define STEP6 \
	VBROADCASTSS (R8), Z4          \
	VBROADCASTSS (R8)(R9*1), Z5    \
	VBROADCASTSS (R8)(R9*2), Z6    \
	VBROADCASTSS (R10), Z7         \
	F64(Z4, Z8, Z9, Z10, Z11)      \
	F64(Z5, Z12, Z13, Z14, Z15)    \
	F64(Z6, Z16, Z17, Z18, Z19)    \
	F64(Z7, Z20, Z21, Z22, Z23)    \
	VBROADCASTSS (R8)(R9*4), Z4    \
	VBROADCASTSS (R10)(R9*2), Z5   \
	F64(Z4, Z24, Z25, Z26, Z27)    \
	F64(Z5, Z28, Z29, Z30, Z31)    \
	ADDQ DX, R8                    \
	ADDQ DX, R10                   \
	ADDQ DI, SI

#define OUT6(c0, c1, c2, c3) \
	TESTQ AX, AX                \
	JZ    9(PC)                 \
	VMOVUPS.Z (R13), K1, Z0     \
	VMOVUPS.Z 64(R13), K2, Z1   \
	VMOVUPS.Z 128(R13), K3, Z2  \
	VMOVUPS.Z 192(R13), K4, Z3  \
	VADDPS  Z0, c0, c0          \
	VADDPS  Z1, c1, c1          \
	VADDPS  Z2, c2, c2          \
	VADDPS  Z3, c3, c3          \
	VMOVUPS c0, K1, (R13)       \
	VMOVUPS c1, K2, 64(R13)     \
	VMOVUPS c2, K3, 128(R13)    \
	VMOVUPS c3, K4, 192(R13)    \
	ADDQ    BX, R13

// func attnKernel6x64(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, mask uint64, acc int)
TEXT ·attnKernel6x64(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ ars+16(FP), R9
	SHLQ $2, R9
	MOVQ acs+24(FP), DX
	SHLQ $2, DX
	MOVQ b+32(FP), SI
	MOVQ ldb+40(FP), DI
	SHLQ $2, DI
	MOVQ c+48(FP), R13
	MOVQ ldc+56(FP), BX
	SHLQ $2, BX
	LEAQ (R9)(R9*2), AX
	LEAQ (R8)(AX*1), R10

	MOVQ  mask+64(FP), AX
	KMOVW AX, K1
	SHRQ  $16, AX
	KMOVW AX, K2
	SHRQ  $16, AX
	KMOVW AX, K3
	SHRQ  $16, AX
	KMOVW AX, K4

	ZERO8(Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	ZERO8(Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)

	MOVQ mask+64(FP), AX
	CMPQ AX, $-1
	JEQ  full6

loop6:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS.Z 128(SI), K3, Z2
	VMOVUPS.Z 192(SI), K4, Z3
	STEP6
	DECQ      CX
	JNZ       loop6
	JMP       out6

full6:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	STEP6
	DECQ    CX
	JNZ     full6

out6:
	MOVQ acc+72(FP), AX
	OUT6(Z8, Z9, Z10, Z11)
	OUT6(Z12, Z13, Z14, Z15)
	OUT6(Z16, Z17, Z18, Z19)
	OUT6(Z20, Z21, Z22, Z23)
	OUT6(Z24, Z25, Z26, Z27)
	OUT6(Z28, Z29, Z30, Z31)
	VZEROUPPER
	RET
