//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// Vector loops for AVX2+FMA. Every function takes n as a multiple of 8;
// the main loops do 32 elements with four independent accumulators so the
// FMA/add latency (4 cycles) is hidden, then finish 8 at a time.

#define X_PTR SI
#define Y_PTR DI
#define DST_PTR DI
#define N CX

// HMAX reduces the 8 lanes of Y0 to their max in the low lane of X0.
#define HMAX \
	VEXTRACTF128 $1, Y0, X1 \
	VMAXPS       X1, X0, X0 \
	VMOVHLPS     X0, X0, X1 \
	VMAXPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VMAXSS       X1, X0, X0

// func dotAVX(x, y *float32, n int) float32
TEXT ·dotAVX(SB), NOSPLIT, $0-28
	MOVQ   x+0(FP), X_PTR
	MOVQ   y+8(FP), Y_PTR
	MOVQ   n+16(FP), N
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dot32:
	CMPQ        N, $32
	JL          dot8
	VMOVUPS     (X_PTR), Y4
	VMOVUPS     32(X_PTR), Y5
	VMOVUPS     64(X_PTR), Y6
	VMOVUPS     96(X_PTR), Y7
	VFMADD231PS (Y_PTR), Y4, Y0
	VFMADD231PS 32(Y_PTR), Y5, Y1
	VFMADD231PS 64(Y_PTR), Y6, Y2
	VFMADD231PS 96(Y_PTR), Y7, Y3
	ADDQ        $128, X_PTR
	ADDQ        $128, Y_PTR
	SUBQ        $32, N
	JMP         dot32

dot8:
	CMPQ        N, $8
	JL          dotdone
	VMOVUPS     (X_PTR), Y4
	VFMADD231PS (Y_PTR), Y4, Y0
	ADDQ        $32, X_PTR
	ADDQ        $32, Y_PTR
	SUBQ        $8, N
	JMP         dot8

dotdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func axpyAVX(alpha float32, x, y *float32, n int)
TEXT ·axpyAVX(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x+8(FP), X_PTR
	MOVQ         y+16(FP), Y_PTR
	MOVQ         n+24(FP), N

axpy32:
	CMPQ        N, $32
	JL          axpy8
	VMOVUPS     (Y_PTR), Y0
	VMOVUPS     32(Y_PTR), Y1
	VMOVUPS     64(Y_PTR), Y2
	VMOVUPS     96(Y_PTR), Y3
	VFMADD231PS (X_PTR), Y15, Y0
	VFMADD231PS 32(X_PTR), Y15, Y1
	VFMADD231PS 64(X_PTR), Y15, Y2
	VFMADD231PS 96(X_PTR), Y15, Y3
	VMOVUPS     Y0, (Y_PTR)
	VMOVUPS     Y1, 32(Y_PTR)
	VMOVUPS     Y2, 64(Y_PTR)
	VMOVUPS     Y3, 96(Y_PTR)
	ADDQ        $128, X_PTR
	ADDQ        $128, Y_PTR
	SUBQ        $32, N
	JMP         axpy32

axpy8:
	CMPQ        N, $8
	JL          axpydone
	VMOVUPS     (Y_PTR), Y0
	VFMADD231PS (X_PTR), Y15, Y0
	VMOVUPS     Y0, (Y_PTR)
	ADDQ        $32, X_PTR
	ADDQ        $32, Y_PTR
	SUBQ        $8, N
	JMP         axpy8

axpydone:
	VZEROUPPER
	RET

// func scaleAVX(alpha float32, x *float32, n int)
TEXT ·scaleAVX(SB), NOSPLIT, $0-24
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x+8(FP), X_PTR
	MOVQ         n+16(FP), N

scale32:
	CMPQ    N, $32
	JL      scale8
	VMULPS  (X_PTR), Y15, Y0
	VMULPS  32(X_PTR), Y15, Y1
	VMULPS  64(X_PTR), Y15, Y2
	VMULPS  96(X_PTR), Y15, Y3
	VMOVUPS Y0, (X_PTR)
	VMOVUPS Y1, 32(X_PTR)
	VMOVUPS Y2, 64(X_PTR)
	VMOVUPS Y3, 96(X_PTR)
	ADDQ    $128, X_PTR
	SUBQ    $32, N
	JMP     scale32

scale8:
	CMPQ    N, $8
	JL      scaledone
	VMULPS  (X_PTR), Y15, Y0
	VMOVUPS Y0, (X_PTR)
	ADDQ    $32, X_PTR
	SUBQ    $8, N
	JMP     scale8

scaledone:
	VZEROUPPER
	RET

// func addAVX(dst, x *float32, n int)
TEXT ·addAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DST_PTR
	MOVQ x+8(FP), X_PTR
	MOVQ n+16(FP), N

add32:
	CMPQ    N, $32
	JL      add8
	VMOVUPS (DST_PTR), Y0
	VMOVUPS 32(DST_PTR), Y1
	VMOVUPS 64(DST_PTR), Y2
	VMOVUPS 96(DST_PTR), Y3
	VADDPS  (X_PTR), Y0, Y0
	VADDPS  32(X_PTR), Y1, Y1
	VADDPS  64(X_PTR), Y2, Y2
	VADDPS  96(X_PTR), Y3, Y3
	VMOVUPS Y0, (DST_PTR)
	VMOVUPS Y1, 32(DST_PTR)
	VMOVUPS Y2, 64(DST_PTR)
	VMOVUPS Y3, 96(DST_PTR)
	ADDQ    $128, X_PTR
	ADDQ    $128, DST_PTR
	SUBQ    $32, N
	JMP     add32

add8:
	CMPQ    N, $8
	JL      adddone
	VMOVUPS (DST_PTR), Y0
	VADDPS  (X_PTR), Y0, Y0
	VMOVUPS Y0, (DST_PTR)
	ADDQ    $32, X_PTR
	ADDQ    $32, DST_PTR
	SUBQ    $8, N
	JMP     add8

adddone:
	VZEROUPPER
	RET

// func mulAVX(dst, x, y *float32, n int)
TEXT ·mulAVX(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DST_PTR
	MOVQ x+8(FP), X_PTR
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), N

mul32:
	CMPQ    N, $32
	JL      mul8
	VMOVUPS (X_PTR), Y0
	VMOVUPS 32(X_PTR), Y1
	VMOVUPS 64(X_PTR), Y2
	VMOVUPS 96(X_PTR), Y3
	VMULPS  (DX), Y0, Y0
	VMULPS  32(DX), Y1, Y1
	VMULPS  64(DX), Y2, Y2
	VMULPS  96(DX), Y3, Y3
	VMOVUPS Y0, (DST_PTR)
	VMOVUPS Y1, 32(DST_PTR)
	VMOVUPS Y2, 64(DST_PTR)
	VMOVUPS Y3, 96(DST_PTR)
	ADDQ    $128, X_PTR
	ADDQ    $128, DX
	ADDQ    $128, DST_PTR
	SUBQ    $32, N
	JMP     mul32

mul8:
	CMPQ    N, $8
	JL      muldone
	VMOVUPS (X_PTR), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (DST_PTR)
	ADDQ    $32, X_PTR
	ADDQ    $32, DX
	ADDQ    $32, DST_PTR
	SUBQ    $8, N
	JMP     mul8

muldone:
	VZEROUPPER
	RET

// func sumAVX(x *float32, n int) float32
TEXT ·sumAVX(SB), NOSPLIT, $0-20
	MOVQ   x+0(FP), X_PTR
	MOVQ   n+8(FP), N
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sum32:
	CMPQ   N, $32
	JL     sum8
	VADDPS (X_PTR), Y0, Y0
	VADDPS 32(X_PTR), Y1, Y1
	VADDPS 64(X_PTR), Y2, Y2
	VADDPS 96(X_PTR), Y3, Y3
	ADDQ   $128, X_PTR
	SUBQ   $32, N
	JMP    sum32

sum8:
	CMPQ   N, $8
	JL     sumdone
	VADDPS (X_PTR), Y0, Y0
	ADDQ   $32, X_PTR
	SUBQ   $8, N
	JMP    sum8

sumdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func sumSqAVX(x *float32, n int) float32
TEXT ·sumSqAVX(SB), NOSPLIT, $0-20
	MOVQ   x+0(FP), X_PTR
	MOVQ   n+8(FP), N
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sumsq32:
	CMPQ        N, $32
	JL          sumsq8
	VMOVUPS     (X_PTR), Y4
	VMOVUPS     32(X_PTR), Y5
	VMOVUPS     64(X_PTR), Y6
	VMOVUPS     96(X_PTR), Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, X_PTR
	SUBQ        $32, N
	JMP         sumsq32

sumsq8:
	CMPQ        N, $8
	JL          sumsqdone
	VMOVUPS     (X_PTR), Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, X_PTR
	SUBQ        $8, N
	JMP         sumsq8

sumsqdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// VMAXPS returns its second source (here the accumulator) when either
// input is NaN, so NaN elements are skipped.

// func maxAVX(x *float32, n int) float32
TEXT ·maxAVX(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), X_PTR
	MOVQ         n+8(FP), N
	MOVL         $0xff800000, AX // -Inf
	MOVL         AX, X0
	VBROADCASTSS X0, Y0
	VMOVAPS      Y0, Y1

max16:
	CMPQ    N, $16
	JL      max8
	VMOVUPS (X_PTR), Y4
	VMOVUPS 32(X_PTR), Y5
	VMAXPS  Y0, Y4, Y0
	VMAXPS  Y1, Y5, Y1
	ADDQ    $64, X_PTR
	SUBQ    $16, N
	JMP     max16

max8:
	CMPQ    N, $8
	JL      maxdone
	VMOVUPS (X_PTR), Y4
	VMAXPS  Y0, Y4, Y0
	ADDQ    $32, X_PTR
	SUBQ    $8, N
	JMP     max8

maxdone:
	VMAXPS Y1, Y0, Y0
	HMAX
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func maxAbsAVX(x *float32, n int) float32
TEXT ·maxAbsAVX(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), X_PTR
	MOVQ         n+8(FP), N
	MOVL         $0x7fffffff, AX
	MOVL         AX, X2
	VBROADCASTSS X2, Y2
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1

maxabs16:
	CMPQ    N, $16
	JL      maxabs8
	VANDPS  (X_PTR), Y2, Y4
	VANDPS  32(X_PTR), Y2, Y5
	VMAXPS  Y0, Y4, Y0
	VMAXPS  Y1, Y5, Y1
	ADDQ    $64, X_PTR
	SUBQ    $16, N
	JMP     maxabs16

maxabs8:
	CMPQ   N, $8
	JL     maxabsdone
	VANDPS (X_PTR), Y2, Y4
	VMAXPS Y0, Y4, Y0
	ADDQ   $32, X_PTR
	SUBQ   $8, N
	JMP    maxabs8

maxabsdone:
	VMAXPS Y1, Y0, Y0
	HMAX
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// Offsets of the constants in expTab (one ymm each).
#define E_HI 0
#define E_LO 32
#define E_LOG2E 64
#define E_HALF 96
#define E_LN2HI 128
#define E_LN2LO 160
#define E_P0 192
#define E_P1 224
#define E_P2 256
#define E_P3 288
#define E_P4 320
#define E_P5 352
#define E_ONE 384
#define E_BIAS 416

// func expSubAVX(dst, x *float32, n int, m float32, tab *[21][8]float32) float32
// Same steps as exp32 in vec_generic.go, 8 lanes at a time.
TEXT ·expSubAVX(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), DST_PTR
	MOVQ         x+8(FP), X_PTR
	MOVQ         n+16(FP), N
	VBROADCASTSS m+24(FP), Y15
	MOVQ         tab+32(FP), AX
	VMOVUPS      E_HI(AX), Y14
	VMOVUPS      E_LO(AX), Y13
	VMOVUPS      E_LOG2E(AX), Y12
	VMOVUPS      E_HALF(AX), Y11
	VMOVUPS      E_LN2HI(AX), Y10
	VMOVUPS      E_LN2LO(AX), Y9
	VMOVUPS      E_ONE(AX), Y8
	VXORPS       Y5, Y5, Y5

exp8:
	CMPQ N, $8
	JL   expdone
	VMOVUPS (X_PTR), Y0
	VSUBPS  Y15, Y0, Y0 // t = x - m
	VCMPPS  $1, Y13, Y0, Y1 // underflow mask: t < lo
	VANDNPS Y0, Y1, Y0 // t = 0 there: clamped to lo it made a denormal (a microcode assist)
	// clamp with t as the second source so a NaN t passes through
	VMINPS Y0, Y14, Y0
	VMAXPS Y0, Y13, Y0
	VMULPS       Y12, Y0, Y2
	VADDPS       Y11, Y2, Y2
	VROUNDPS     $1, Y2, Y2 // n = floor(t*log2e + 0.5)
	VFNMADD231PS Y10, Y2, Y0 // r = t - n*ln2hi
	VFNMADD231PS Y9, Y2, Y0 //   - n*ln2lo
	VMOVUPS      E_P0(AX), Y3
	VFMADD213PS  E_P1(AX), Y0, Y3
	VFMADD213PS  E_P2(AX), Y0, Y3
	VFMADD213PS  E_P3(AX), Y0, Y3
	VFMADD213PS  E_P4(AX), Y0, Y3
	VFMADD213PS  E_P5(AX), Y0, Y3
	VMULPS       Y0, Y0, Y4
	VFMADD213PS  Y0, Y4, Y3 // p*r*r + r
	VADDPS       Y8, Y3, Y3 // + 1
	VCVTTPS2DQ   Y2, Y2
	VPADDD       E_BIAS(AX), Y2, Y2
	VPSLLD       $23, Y2, Y2 // 2^n
	VMULPS       Y2, Y3, Y3
	VANDNPS      Y3, Y1, Y3
	VMOVUPS      Y3, (DST_PTR)
	VADDPS       Y3, Y5, Y5
	ADDQ         $32, X_PTR
	ADDQ         $32, DST_PTR
	SUBQ         $8, N
	JMP          exp8

expdone:
	VMOVAPS Y5, Y0
	HSUM
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// func dotRowsAVX(out *float32, scale float32, q, k *float32, ldk, n, d int)
// out[t] = scale * sum_{i<d} q[i]*k[t*ldk+i] for t < n; n a multiple of 4,
// d a multiple of 8. Four key rows at a time share each load of q; their
// four sums leave through one pairwise-add reduction.
TEXT ·dotRowsAVX(SB), NOSPLIT, $0-56
	MOVQ         out+0(FP), DX
	VBROADCASTSS scale+8(FP), Y15
	MOVQ         q+16(FP), SI
	MOVQ         k+24(FP), DI
	MOVQ         ldk+32(FP), R8
	MOVQ         n+40(FP), R12
	MOVQ         d+48(FP), R13
	SHLQ         $2, R8
	SHRQ         $2, R12
	JZ           drdone

drrows:
	LEAQ   (DI)(R8*1), R9
	LEAQ   (R9)(R8*1), R10
	LEAQ   (R10)(R8*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX
	MOVQ   R13, CX
	SHRQ   $3, CX

drloop:
	VMOVUPS     (SI)(AX*1), Y8
	VFMADD231PS (DI)(AX*1), Y8, Y0
	VFMADD231PS (R9)(AX*1), Y8, Y1
	VFMADD231PS (R10)(AX*1), Y8, Y2
	VFMADD231PS (R11)(AX*1), Y8, Y3
	ADDQ        $32, AX
	DECQ        CX
	JNZ         drloop

	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMULPS       X15, X0, X0
	VMOVUPS      X0, (DX)
	ADDQ         $16, DX
	LEAQ         (R11)(R8*1), DI
	DECQ         R12
	JNZ          drrows

drdone:
	VZEROUPPER
	RET

// func axpyRowsAVX(out, p, v *float32, ldv, n, d int)
// out[i] += sum_{t<n} p[t]*v[t*ldv+i] for i < d; d a multiple of 8. Each
// 32-wide slice of out (then each 8-wide one) stays in registers while
// every row of v streams past it; each element gets its FMAs in t order,
// as n Axpy calls would give it.
TEXT ·axpyRowsAVX(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DX
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), DI
	MOVQ ldv+24(FP), R8
	MOVQ n+32(FP), R12
	MOVQ d+40(FP), R13
	SHLQ $2, R8
	TESTQ R12, R12
	JZ   ardone

arcols:
	CMPQ    R13, $32
	JL      ar8
	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS 64(DX), Y2
	VMOVUPS 96(DX), Y3
	MOVQ    DI, R9
	XORQ    AX, AX

arloop:
	VBROADCASTSS (SI)(AX*4), Y8
	VFMADD231PS  (R9), Y8, Y0
	VFMADD231PS  32(R9), Y8, Y1
	VFMADD231PS  64(R9), Y8, Y2
	VFMADD231PS  96(R9), Y8, Y3
	ADDQ         R8, R9
	INCQ         AX
	CMPQ         AX, R12
	JL           arloop

	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)
	ADDQ    $128, DX
	ADDQ    $128, DI
	SUBQ    $32, R13
	JMP     arcols

ar8:
	CMPQ    R13, $8
	JL      ardone
	VMOVUPS (DX), Y0
	MOVQ    DI, R9
	XORQ    AX, AX

ar8loop:
	VBROADCASTSS (SI)(AX*4), Y8
	VFMADD231PS  (R9), Y8, Y0
	ADDQ         R8, R9
	INCQ         AX
	CMPQ         AX, R12
	JL           ar8loop

	VMOVUPS Y0, (DX)
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, R13
	JMP     ar8

ardone:
	VZEROUPPER
	RET

// func dot3AVX(x0, x1, x2, y *float32, n int, out *[3]float32)
// Three dotAVX(x_r, y, n) at once, sharing the loads of y: the same four
// accumulators per row, the same order of FMAs (a product is commutative,
// so y·x_r rounds as x_r·y) and the same reduction, so each result is
// bit-identical to dotAVX's.
TEXT ·dot3AVX(SB), NOSPLIT, $0-48
	MOVQ   x0+0(FP), AX
	MOVQ   x1+8(FP), BX
	MOVQ   x2+16(FP), DX
	MOVQ   y+24(FP), Y_PTR
	MOVQ   n+32(FP), N
	MOVQ   out+40(FP), R8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

dot3_32:
	CMPQ        N, $32
	JL          dot3_8
	VMOVUPS     (Y_PTR), Y4
	VMOVUPS     32(Y_PTR), Y5
	VMOVUPS     64(Y_PTR), Y6
	VMOVUPS     96(Y_PTR), Y7
	VFMADD231PS (AX), Y4, Y0
	VFMADD231PS 32(AX), Y5, Y1
	VFMADD231PS 64(AX), Y6, Y2
	VFMADD231PS 96(AX), Y7, Y3
	VFMADD231PS (BX), Y4, Y8
	VFMADD231PS 32(BX), Y5, Y9
	VFMADD231PS 64(BX), Y6, Y10
	VFMADD231PS 96(BX), Y7, Y11
	VFMADD231PS (DX), Y4, Y12
	VFMADD231PS 32(DX), Y5, Y13
	VFMADD231PS 64(DX), Y6, Y14
	VFMADD231PS 96(DX), Y7, Y15
	ADDQ        $128, AX
	ADDQ        $128, BX
	ADDQ        $128, DX
	ADDQ        $128, Y_PTR
	SUBQ        $32, N
	JMP         dot3_32

dot3_8:
	CMPQ        N, $8
	JL          dot3_done
	VMOVUPS     (Y_PTR), Y4
	VFMADD231PS (AX), Y4, Y0
	VFMADD231PS (BX), Y4, Y8
	VFMADD231PS (DX), Y4, Y12
	ADDQ        $32, AX
	ADDQ        $32, BX
	ADDQ        $32, DX
	ADDQ        $32, Y_PTR
	SUBQ        $8, N
	JMP         dot3_8

dot3_done:
	VADDPS  Y1, Y0, Y0
	VADDPS  Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	HSUM
	VMOVSS  X0, (R8)
	VADDPS  Y9, Y8, Y0
	VADDPS  Y11, Y10, Y2
	VADDPS  Y2, Y0, Y0
	HSUM
	VMOVSS  X0, 4(R8)
	VADDPS  Y13, Y12, Y0
	VADDPS  Y15, Y14, Y2
	VADDPS  Y2, Y0, Y0
	HSUM
	VMOVSS  X0, 8(R8)
	VZEROUPPER
	RET
