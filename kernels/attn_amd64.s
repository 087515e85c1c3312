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

// attnKernel12x32 is attnKernel4x64 for 12 full rows by 32 columns, the
// blocked GEMM's tile shape (24 accumulators, Z8-Z31, row r in Z(8+2r)
// and Z(9+2r)): 24 FMAs per 2 loads of B and 12 broadcasts of A, where
// the 4x64 tile does 16 per 4 and 4. With the row stride in R9 the rows
// of A are 0, 1, 2, 4, 8 from R8; 3, 5, 7, 11 from R10 (row 3); 6, 10
// from R11 (row 6) and 9 from R12, so four pointers step along p.

#define B12(addr, x) VBROADCASTSS addr, x

#define F12(x, c0, c1) \
	VFMADD231PS Z0, x, c0 \
	VFMADD231PS Z1, x, c1

#define OUT12(c0, c1) \
	TESTQ   AX, AX           \
	JZ      5(PC)            \
	VMOVUPS.Z (R13), K1, Z0   \
	VMOVUPS.Z 64(R13), K2, Z1 \
	VADDPS  Z0, c0, c0       \
	VADDPS  Z1, c1, c1       \
	VMOVUPS c0, K1, (R13)    \
	VMOVUPS c1, K2, 64(R13)  \
	ADDQ    BX, R13

// STEP12 is one step of p after the loads of B into Z0, Z1.
#define STEP12 \
	B12((R8), Z2) \
	B12((R8)(R9*1), Z3) \
	B12((R8)(R9*2), Z4) \
	B12((R10), Z5) \
	F12(Z2, Z8, Z9) \
	F12(Z3, Z10, Z11) \
	F12(Z4, Z12, Z13) \
	F12(Z5, Z14, Z15) \
	B12((R8)(R9*4), Z2) \
	B12((R10)(R9*2), Z3) \
	B12((R11), Z4) \
	B12((R10)(R9*4), Z5) \
	F12(Z2, Z16, Z17) \
	F12(Z3, Z18, Z19) \
	F12(Z4, Z20, Z21) \
	F12(Z5, Z22, Z23) \
	B12((R8)(R9*8), Z2) \
	B12((R12), Z3) \
	B12((R11)(R9*4), Z4) \
	B12((R10)(R9*8), Z5) \
	F12(Z2, Z24, Z25) \
	F12(Z3, Z26, Z27) \
	F12(Z4, Z28, Z29) \
	F12(Z5, Z30, Z31) \
	ADDQ DX, R8 \
	ADDQ DX, R10 \
	ADDQ DX, R11 \
	ADDQ DX, R12 \
	ADDQ DI, SI

// func attnKernel12x32(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, mask uint32, acc int)
TEXT ·attnKernel12x32(SB), NOSPLIT, $0-80
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
	LEAQ (R9)(R9*2), AX // 3 rows
	LEAQ (R8)(AX*1), R10
	LEAQ (R10)(AX*1), R11
	LEAQ (R11)(AX*1), R12

	MOVL  mask+64(FP), AX
	KMOVW AX, K1
	SHRL  $16, AX
	KMOVW AX, K2

	ZERO8(Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)
	ZERO8(Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)

	MOVL mask+64(FP), AX
	CMPL AX, $-1
	JEQ  full12

	// Columns past N: masked loads.
loop12:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	STEP12
	DECQ      CX
	JNZ       loop12
	JMP       out12

	// All 32 columns: plain loads.
full12:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	STEP12
	DECQ    CX
	JNZ     full12

out12:
	MOVQ acc+72(FP), AX
	OUT12(Z8, Z9)
	OUT12(Z10, Z11)
	OUT12(Z12, Z13)
	OUT12(Z14, Z15)
	OUT12(Z16, Z17)
	OUT12(Z18, Z19)
	OUT12(Z20, Z21)
	OUT12(Z22, Z23)
	OUT12(Z24, Z25)
	OUT12(Z26, Z27)
	OUT12(Z28, Z29)
	OUT12(Z30, Z31)
	VZEROUPPER
	RET
