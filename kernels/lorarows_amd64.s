//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// func dotsAVX(x, a *float32, lda, n, r int, t *float32)
// t[j] = dotAVX(x, a+j*lda, n) for j < r, two rows per pass: Y0-Y3 and
// Y8-Y11 are the two rows' four accumulators (as dotAVX's Y0-Y3), fed by
// one load of x; an odd last row runs as a pair with itself.
TEXT ·dotsAVX(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ lda+16(FP), R8
	MOVQ n+24(FP), R9
	MOVQ r+32(FP), R10
	MOVQ t+40(FP), DX
	SHLQ $2, R8

dspair:
	TESTQ  R10, R10
	JZ     dsdone
	LEAQ   (DI)(R8*1), BX
	CMPQ   R10, $1
	CMOVQEQ DI, BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	XORQ   AX, AX
	MOVQ   R9, CX

ds32:
	CMPQ        CX, $32
	JL          ds8
	VMOVUPS     (SI)(AX*1), Y4
	VMOVUPS     32(SI)(AX*1), Y5
	VMOVUPS     64(SI)(AX*1), Y6
	VMOVUPS     96(SI)(AX*1), Y7
	VFMADD231PS (DI)(AX*1), Y4, Y0
	VFMADD231PS 32(DI)(AX*1), Y5, Y1
	VFMADD231PS 64(DI)(AX*1), Y6, Y2
	VFMADD231PS 96(DI)(AX*1), Y7, Y3
	VFMADD231PS (BX)(AX*1), Y4, Y8
	VFMADD231PS 32(BX)(AX*1), Y5, Y9
	VFMADD231PS 64(BX)(AX*1), Y6, Y10
	VFMADD231PS 96(BX)(AX*1), Y7, Y11
	ADDQ        $128, AX
	SUBQ        $32, CX
	JMP         ds32

ds8:
	CMPQ        CX, $8
	JL          dssum
	VMOVUPS     (SI)(AX*1), Y4
	VFMADD231PS (DI)(AX*1), Y4, Y0
	VFMADD231PS (BX)(AX*1), Y4, Y8
	ADDQ        $32, AX
	SUBQ        $8, CX
	JMP         ds8

dssum:
	VADDPS  Y9, Y8, Y8
	VADDPS  Y11, Y10, Y10
	VADDPS  Y10, Y8, Y8
	VADDPS  Y1, Y0, Y0
	VADDPS  Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	HSUM
	VMOVSS  X0, (DX)
	CMPQ    R10, $1
	JEQ     dsdone
	VMOVAPS Y8, Y0
	HSUM
	VMOVSS  X0, 4(DX)
	ADDQ    $8, DX
	LEAQ    (BX)(R8*1), DI
	SUBQ    $2, R10
	JMP     dspair

dsdone:
	VZEROUPPER
	RET

// func axpysAVX(y, p, v *float32, ldv, r, n int)
// y[i] += p[j]*v[j*ldv+i] for j < r in turn, i < n: each 32-wide slice of
// y (then each 8-wide one) stays in registers while the r rows of v
// stream past it.
TEXT ·axpysAVX(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DX
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ ldv+24(FP), R8
	MOVQ r+32(FP), R12
	MOVQ n+40(FP), R13
	SHLQ $2, R8

as32:
	CMPQ    R13, $32
	JL      as8
	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS 64(DX), Y2
	VMOVUPS 96(DX), Y3
	MOVQ    DI, R9
	XORQ    AX, AX

as32j:
	VBROADCASTSS (SI)(AX*4), Y8
	VFMADD231PS  (R9), Y8, Y0
	VFMADD231PS  32(R9), Y8, Y1
	VFMADD231PS  64(R9), Y8, Y2
	VFMADD231PS  96(R9), Y8, Y3
	ADDQ         R8, R9
	INCQ         AX
	CMPQ         AX, R12
	JL           as32j

	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)
	ADDQ    $128, DX
	ADDQ    $128, DI
	SUBQ    $32, R13
	JMP     as32

as8:
	CMPQ    R13, $8
	JL      asdone
	VMOVUPS (DX), Y0
	MOVQ    DI, R9
	XORQ    AX, AX

as8j:
	VBROADCASTSS (SI)(AX*4), Y8
	VFMADD231PS  (R9), Y8, Y0
	ADDQ         R8, R9
	INCQ         AX
	CMPQ         AX, R12
	JL           as8j

	VMOVUPS Y0, (DX)
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, R13
	JMP     as8

asdone:
	VZEROUPPER
	RET
