//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// The two passes of NormGrad (norm.go) for AVX2+FMA; n is a multiple of 8.

// func normSumsAVX(x, dy, w *float32, n int, m float32, out *[2]float32)
// Two pairs of accumulators (Σg in Y0/Y2, Σg·(x-m) in Y1/Y3) over 16
// elements a step hide the add latency.
TEXT ·normSumsAVX(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), SI
	MOVQ         dy+8(FP), DX
	MOVQ         w+16(FP), DI
	MOVQ         n+24(FP), CX
	VBROADCASTSS m+32(FP), Y15
	MOVQ         out+40(FP), AX
	ZERO4(Y0, Y1, Y2, Y3)

ns16:
	CMPQ        CX, $16
	JL          ns8
	VMOVUPS     (DI), Y4
	VMOVUPS     32(DI), Y5
	VMULPS      (DX), Y4, Y4      // g
	VMULPS      32(DX), Y5, Y5
	VMOVUPS     (SI), Y6
	VMOVUPS     32(SI), Y7
	VSUBPS      Y15, Y6, Y6       // x-m
	VSUBPS      Y15, Y7, Y7
	VADDPS      Y4, Y0, Y0
	VADDPS      Y5, Y2, Y2
	VFMADD231PS Y6, Y4, Y1
	VFMADD231PS Y7, Y5, Y3
	ADDQ        $64, SI
	ADDQ        $64, DX
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         ns16

ns8:
	CMPQ        CX, $8
	JL          nsdone
	VMOVUPS     (DI), Y4
	VMULPS      (DX), Y4, Y4
	VMOVUPS     (SI), Y6
	VSUBPS      Y15, Y6, Y6
	VADDPS      Y4, Y0, Y0
	VFMADD231PS Y6, Y4, Y1
	ADDQ        $32, SI
	ADDQ        $32, DX
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         ns8

nsdone:
	VADDPS  Y2, Y0, Y0
	VADDPS  Y3, Y1, Y5 // out of HSUM's X1
	HSUM
	VMOVSS  X0, (AX)
	VMOVAPS Y5, Y0
	HSUM
	VMOVSS  X0, 4(AX)
	VZEROUPPER
	RET

// func normGradAVX(dx, x, dy, w *float32, n int, m, gm, k, s float32)
TEXT ·normGradAVX(SB), NOSPLIT, $0-56
	MOVQ         dx+0(FP), R8
	MOVQ         x+8(FP), SI
	MOVQ         dy+16(FP), DX
	MOVQ         w+24(FP), DI
	MOVQ         n+32(FP), CX
	VBROADCASTSS m+40(FP), Y15
	VBROADCASTSS gm+44(FP), Y14
	VBROADCASTSS k+48(FP), Y13
	VBROADCASTSS s+52(FP), Y12

ng8:
	CMPQ         CX, $8
	JL           ngdone
	VMOVUPS      (DI), Y0
	VMULPS       (DX), Y0, Y0 // g
	VMOVUPS      (SI), Y1
	VSUBPS       Y15, Y1, Y1  // x-m
	VSUBPS       Y14, Y0, Y0  // g - gm
	VFNMADD231PS Y13, Y1, Y0  // - (x-m)·k
	VMULPS       Y12, Y0, Y0  // ·s
	VADDPS       (R8), Y0, Y0
	VMOVUPS      Y0, (R8)
	ADDQ         $32, R8
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $32, DI
	SUBQ         $8, CX
	JMP          ng8

ngdone:
	VZEROUPPER
	RET

// func sumSqDevAVX(x *float32, n int, m float32) float32
// Four accumulators over 32 elements a step, then 8 at a time.
TEXT ·sumSqDevAVX(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	ZERO4(Y0, Y1, Y2, Y3)

sd32:
	CMPQ        CX, $32
	JL          sd8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VSUBPS      Y15, Y4, Y4
	VSUBPS      Y15, Y5, Y5
	VSUBPS      Y15, Y6, Y6
	VSUBPS      Y15, Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, SI
	SUBQ        $32, CX
	JMP         sd32

sd8:
	CMPQ        CX, $8
	JL          sddone
	VMOVUPS     (SI), Y4
	VSUBPS      Y15, Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, SI
	SUBQ        $8, CX
	JMP         sd8

sddone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func normApplyAVX(o, x, w, b *float32, n int, m, s float32)
TEXT ·normApplyAVX(SB), NOSPLIT, $0-48
	MOVQ         o+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         w+16(FP), DX
	MOVQ         b+24(FP), R8
	MOVQ         n+32(FP), CX
	VBROADCASTSS m+40(FP), Y15
	VBROADCASTSS s+44(FP), Y14
	XORQ         R11, R11

na8:
	CMPQ    CX, $8
	JL      nadone
	VMOVUPS (SI)(R11*1), Y0
	VSUBPS  Y15, Y0, Y0          // x-m
	VMULPS  Y14, Y0, Y0          // ·s
	VMULPS  (DX)(R11*1), Y0, Y0  // ·w
	TESTQ   R8, R8
	JZ      nastore
	VADDPS  (R8)(R11*1), Y0, Y0  // + b

nastore:
	VMOVUPS Y0, (DI)(R11*1)
	ADDQ    $32, R11
	SUBQ    $8, CX
	JMP     na8

nadone:
	VZEROUPPER
	RET
