//go:build !purego

#include "textflag.h"

// The activation kernels of act.go for AVX2+FMA, 8 lanes at a time; n is
// a multiple of 8. Each loads the exp constants of expTab (AX) into
// Y8-Y14 as expSubAVX does, and EXP8 is expSubAVX's loop body (exp of the
// 8 lanes of Y0 in place, clobbering Y1-Y4) but for its upper clamp:
// G_HI (89) makes n = 128 for t above ~88.4, whose 2^n is the bit pattern
// of +Inf, so a sigmoid's 1/(1+e) is 0 there rather than 4e-39, which a
// huge x would scale back up. An underflowing lane's t is zeroed before
// the polynomial (its result is masked to 0 anyway): clamped to the lower
// bound it made a denormal, a microcode assist per vector. Pointers stay
// fixed and R11 walks the byte offset, so a nil output can be tested each
// step.

#define E_P0 192
#define E_P1 224
#define E_P2 256
#define E_P3 288
#define E_P4 320
#define E_P5 352
#define E_BIAS 416
#define G_A 448
#define G_B 480
#define G_C 512
#define G_D 544
#define G_HI 576
#define G_XMAX 608
#define G_XMIN 640

#define EXPCONSTS \
	VMOVUPS G_HI(AX), Y14 \
	VMOVUPS 32(AX), Y13  \
	VMOVUPS 64(AX), Y12  \
	VMOVUPS 96(AX), Y11  \
	VMOVUPS 128(AX), Y10 \
	VMOVUPS 160(AX), Y9  \
	VMOVUPS 384(AX), Y8

#define EXP8 \
	VCMPPS       $1, Y13, Y0, Y1    \
	VANDNPS      Y0, Y1, Y0         \
	VMINPS       Y0, Y14, Y0        \
	VMAXPS       Y0, Y13, Y0        \
	VMULPS       Y12, Y0, Y2        \
	VADDPS       Y11, Y2, Y2        \
	VROUNDPS     $1, Y2, Y2         \
	VFNMADD231PS Y10, Y2, Y0        \
	VFNMADD231PS Y9, Y2, Y0         \
	VMOVUPS      E_P0(AX), Y3       \
	VFMADD213PS  E_P1(AX), Y0, Y3   \
	VFMADD213PS  E_P2(AX), Y0, Y3   \
	VFMADD213PS  E_P3(AX), Y0, Y3   \
	VFMADD213PS  E_P4(AX), Y0, Y3   \
	VFMADD213PS  E_P5(AX), Y0, Y3   \
	VMULPS       Y0, Y0, Y4         \
	VFMADD213PS  Y0, Y4, Y3         \
	VADDPS       Y8, Y3, Y3         \
	VCVTTPS2DQ   Y2, Y2             \
	VPADDD       E_BIAS(AX), Y2, Y2 \
	VPSLLD       $23, Y2, Y2        \
	VMULPS       Y2, Y3, Y0         \
	VANDNPS      Y0, Y1, Y0

// SIGDEN loads the gate (SI at R11) into Y5 and sets Y0 = 1 + exp(-gate),
// sigmoid's denominator (Y7 holds 0).
#define SIGDEN \
	VMOVUPS (SI)(R11*1), Y5 \
	VSUBPS  Y5, Y7, Y0      \
	EXP8                    \
	VADDPS  Y8, Y0, Y0

// func geluAVX(dst, x, bias *float32, n int, tab *[21][8]float32)
// dst = gelu(x (+ bias, stored back to x)).
TEXT ·geluAVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ bias+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ tab+32(FP), AX
	EXPCONSTS
	VMOVUPS G_A(AX), Y15
	VMOVUPS G_B(AX), Y7
	XORQ    R11, R11

gelu8:
	CMPQ    CX, $8
	JL      geludone
	VMOVUPS (SI)(R11*1), Y5
	TESTQ   DX, DX
	JZ      gelunobias
	VADDPS  (DX)(R11*1), Y5, Y5
	VMOVUPS Y5, (SI)(R11*1)

gelunobias:
	VMULPS      Y5, Y5, Y0
	VFMADD213PS Y15, Y7, Y0 // A + B·x²
	VMULPS      Y5, Y0, Y0  // t
	EXP8
	VADDPS      Y8, Y0, Y0
	VDIVPS      Y0, Y5, Y0  // x/(1+e)
	VMOVUPS     Y0, (DI)(R11*1)
	ADDQ        $32, R11
	SUBQ        $8, CX
	JMP         gelu8

geludone:
	VZEROUPPER
	RET

// func geluGradAVX(dx, x, dy *float32, n, acc int, tab *[21][8]float32)
// dx (+)= gelu'(x)·dy.
TEXT ·geluGradAVX(SB), NOSPLIT, $0-48
	MOVQ dx+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ acc+32(FP), BX
	MOVQ tab+40(FP), AX
	EXPCONSTS
	VMOVUPS G_A(AX), Y15
	VMOVUPS G_B(AX), Y7
	XORQ    R11, R11

gg8:
	CMPQ        CX, $8
	JL          ggdone
	VMOVUPS     (SI)(R11*1), Y5
	VMOVUPS     G_XMAX(AX), Y1
	VMINPS      Y5, Y1, Y5      // x as the second source: a NaN stays
	VMOVUPS     G_XMIN(AX), Y1
	VMAXPS      Y5, Y1, Y5
	VMULPS      Y5, Y5, Y6      // x²
	VMOVAPS     Y6, Y0
	VFMADD213PS Y15, Y7, Y0     // A + B·x²
	VMULPS      Y5, Y0, Y0      // t
	EXP8
	VADDPS      Y8, Y0, Y0
	VDIVPS      Y0, Y8, Y0      // s
	VMOVUPS     G_D(AX), Y1
	VFMADD213PS G_C(AX), Y6, Y1 // 2u' = C + D·x²
	VSUBPS      Y0, Y8, Y2      // 1-s
	VMULPS      Y2, Y5, Y2      // x·(1-s)
	VMULPS      Y1, Y2, Y2      // x·(1-s)·2u'
	VFMADD213PS Y0, Y0, Y2      // s + s·x·(1-s)·2u'
	VMULPS      (DX)(R11*1), Y2, Y2
	TESTQ       BX, BX
	JZ          ggstore
	VADDPS      (DI)(R11*1), Y2, Y2

ggstore:
	VMOVUPS Y2, (DI)(R11*1)
	ADDQ    $32, R11
	SUBQ    $8, CX
	JMP     gg8

ggdone:
	VZEROUPPER
	RET

// func swigluAVX(dst, gate, u *float32, n int, tab *[21][8]float32)
// dst = g·sigmoid(g)·u.
TEXT ·swigluAVX(SB), NOSPLIT, $0-40
	MOVQ   dst+0(FP), DI
	MOVQ   gate+8(FP), SI
	MOVQ   u+16(FP), DX
	MOVQ   n+24(FP), CX
	MOVQ   tab+32(FP), AX
	EXPCONSTS
	VXORPS Y7, Y7, Y7
	XORQ   R11, R11

sw8:
	CMPQ    CX, $8
	JL      swdone
	SIGDEN
	VDIVPS Y0, Y5, Y0 // g/(1+e)
	VMULPS  (DX)(R11*1), Y0, Y0
	VMOVUPS Y0, (DI)(R11*1)
	ADDQ    $32, R11
	SUBQ    $8, CX
	JMP     sw8

swdone:
	VZEROUPPER
	RET

// func swigluGradAVX(dg, du, gate, u, dy *float32, n, acc int, tab *[21][8]float32)
// du (+)= g·s·dy and dg (+)= s·(1+g·(1-s))·u·dy, s = sigmoid(g); a nil
// dg or du is skipped.
TEXT ·swigluGradAVX(SB), NOSPLIT, $0-64
	MOVQ   dg+0(FP), DI
	MOVQ   du+8(FP), R8
	MOVQ   gate+16(FP), SI
	MOVQ   u+24(FP), DX
	MOVQ   dy+32(FP), R9
	MOVQ   n+40(FP), CX
	MOVQ   acc+48(FP), BX
	MOVQ   tab+56(FP), AX
	EXPCONSTS
	VXORPS Y7, Y7, Y7
	XORQ   R11, R11

sg8:
	CMPQ    CX, $8
	JL      sgdone
	SIGDEN
	VDIVPS Y0, Y8, Y0 // s
	VMOVUPS (R9)(R11*1), Y6 // dy
	TESTQ   R8, R8
	JZ      sgdg
	VMULPS  Y0, Y5, Y1 // g·s
	VMULPS  Y6, Y1, Y1 // ·dy
	TESTQ   BX, BX
	JZ      sgdustore
	VADDPS  (R8)(R11*1), Y1, Y1

sgdustore:
	VMOVUPS Y1, (R8)(R11*1)

sgdg:
	TESTQ       DI, DI
	JZ          sgnext
	VSUBPS      Y0, Y8, Y2      // 1-s
	VFMADD213PS Y8, Y5, Y2      // 1 + g·(1-s)
	VMULPS      Y2, Y0, Y2      // s·(…)
	VMULPS      (DX)(R11*1), Y2, Y2
	VMULPS      Y6, Y2, Y2
	TESTQ       BX, BX
	JZ          sgdgstore
	VADDPS      (DI)(R11*1), Y2, Y2

sgdgstore:
	VMOVUPS Y2, (DI)(R11*1)

sgnext:
	ADDQ $32, R11
	SUBQ $8, CX
	JMP  sg8

sgdone:
	VZEROUPPER
	RET
