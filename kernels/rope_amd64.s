//go:build !purego

#include "textflag.h"

// func rotateAVX(lo, hi, c, s *float32, n int, sign float32)
// Products and sums rounded one at a time, as rotateGeneric's.
TEXT ·rotateAVX(SB), NOSPLIT, $0-44
	MOVQ         lo+0(FP), DI
	MOVQ         hi+8(FP), SI
	MOVQ         c+16(FP), DX
	MOVQ         s+24(FP), R8
	MOVQ         n+32(FP), CX
	VBROADCASTSS sign+40(FP), Y15
	XORQ         R11, R11

rot8:
	CMPQ    CX, $8
	JL      rotdone
	VMOVUPS (DI)(R11*1), Y0      // a
	VMOVUPS (SI)(R11*1), Y1      // b
	VMOVUPS (DX)(R11*1), Y2      // c
	VMULPS  (R8)(R11*1), Y15, Y3 // s' = sign·s
	VMULPS  Y2, Y0, Y4           // a·c
	VMULPS  Y3, Y1, Y5           // b·s'
	VSUBPS  Y5, Y4, Y4
	VMULPS  Y2, Y1, Y6           // b·c
	VMULPS  Y3, Y0, Y7           // a·s'
	VADDPS  Y7, Y6, Y6
	VMOVUPS Y4, (DI)(R11*1)
	VMOVUPS Y6, (SI)(R11*1)
	ADDQ    $32, R11
	SUBQ    $8, CX
	JMP     rot8

rotdone:
	VZEROUPPER
	RET
