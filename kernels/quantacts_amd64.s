//go:build !purego

#include "textflag.h"

// quantActsAVX512 and quantActsAVX2 (quantacts_amd64.go): quantActsGeneric
// over nb blocks of 32·chunks values. SI x, DI q, DX d, R8 sums (nil:
// none), CX blocks, BX chunks of 32 per block; X14 holds 127, X13 1.
// Bit-identical to the Go loop (the same divisions; VCVTPS2DQ rounds to
// nearest even).
#define QA_ARGS \
	MOVQ x+0(FP), SI \
	MOVQ q+8(FP), DI \
	MOVQ d+16(FP), DX \
	MOVQ sums+24(FP), R8 \
	MOVQ nb+32(FP), CX \
	MOVQ chunks+40(FP), BX \
	MOVL $0x42fe0000, AX \
	VMOVD AX, X14 \
	MOVL $0x3f800000, AX \
	VMOVD AX, X13

// QA_SCALE reduces the four maxima in X0 to the block's d = max/127,
// stores it at DX and leaves inv = 1/d (0 when d is 0) in X1.
#define QA_SCALE \
	VMOVHLPS  X0, X0, X1 \
	VMAXPS    X1, X0, X0 \
	VMOVSHDUP X0, X1 \
	VMAXSS    X1, X0, X0 \
	VDIVSS    X14, X0, X0 \
	VMOVSS    X0, (DX) \
	VXORPS    X1, X1, X1 \
	VUCOMISS  X1, X0 \
	JEQ       scaled \
	VDIVSS    X0, X13, X1 \
scaled:

// QA_SUM stores the sum of X2's four int32 lanes at R8 and advances it.
#define QA_SUM \
	VPHADDD X2, X2, X2 \
	VPHADDD X2, X2, X2 \
	VMOVD   X2, (R8) \
	ADDQ    $4, R8

// QA_NEXT advances to the next chunk, and after BX chunks to the next
// block (R10 counts the chunks).
#define QA_NEXT \
	ADDQ $128, SI \
	ADDQ $32, DI \
	DECQ R10 \
	JNZ  chunk \
	ADDQ $4, DX \
	DECQ CX \
	JNZ  block \
	VZEROUPPER

// func quantActsAVX512(x *float32, q *int8, d *float32, sums *int32, nb, chunks int)
TEXT ·quantActsAVX512(SB), NOSPLIT, $0-48
	QA_ARGS
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z15

block:
	VXORPS Z0, Z0, Z0
	MOVQ   SI, R9
	MOVQ   BX, R10

amax:
	VANDPS (R9), Z15, Z1
	VANDPS 64(R9), Z15, Z2
	VMAXPS Z1, Z0, Z0
	VMAXPS Z2, Z0, Z0
	ADDQ   $128, R9
	DECQ   R10
	JNZ    amax
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VMAXPS        X1, X0, X0
	QA_SCALE
	VBROADCASTSS X1, Z1
	MOVQ         BX, R10

chunk:
	VMULPS    (SI), Z1, Z2
	VMULPS    64(SI), Z1, Z3
	VCVTPS2DQ Z2, Z2
	VCVTPS2DQ Z3, Z3
	VPMOVSDB  Z2, (DI)
	VPMOVSDB  Z3, 16(DI)
	TESTQ     R8, R8
	JZ        next
	VPADDD        Z3, Z2, Z2
	VEXTRACTI64X4 $1, Z2, Y3
	VPADDD        Y3, Y2, Y2
	VEXTRACTI128  $1, Y2, X3
	VPADDD        X3, X2, X2
	QA_SUM

next:
	QA_NEXT
	RET

// VPERMD order that undoes VPACKSSDW/VPACKSSWB's interleaving of 128-bit
// lanes: bytes 4k..4k+3 of the packed result come from dword perm[k].
DATA qactsPerm<>+0(SB)/4, $0
DATA qactsPerm<>+4(SB)/4, $4
DATA qactsPerm<>+8(SB)/4, $1
DATA qactsPerm<>+12(SB)/4, $5
DATA qactsPerm<>+16(SB)/4, $2
DATA qactsPerm<>+20(SB)/4, $6
DATA qactsPerm<>+24(SB)/4, $3
DATA qactsPerm<>+28(SB)/4, $7
GLOBL qactsPerm<>(SB), RODATA|NOPTR, $32

// func quantActsAVX2(x *float32, q *int8, d *float32, sums *int32, nb, chunks int)
//
// On ymm registers; AVX2 has no VPMOVSDB, so the int32 values are narrowed
// by two saturating packs and put back in order by VPERMD.
TEXT ·quantActsAVX2(SB), NOSPLIT, $0-48
	QA_ARGS
	MOVL         $0x7fffffff, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15
	VMOVDQU      qactsPerm<>(SB), Y12

block:
	VXORPS Y0, Y0, Y0
	MOVQ   SI, R9
	MOVQ   BX, R10

amax:
	VANDPS (R9), Y15, Y1
	VANDPS 32(R9), Y15, Y2
	VANDPS 64(R9), Y15, Y3
	VANDPS 96(R9), Y15, Y4
	VMAXPS Y1, Y0, Y0
	VMAXPS Y2, Y0, Y0
	VMAXPS Y3, Y0, Y0
	VMAXPS Y4, Y0, Y0
	ADDQ   $128, R9
	DECQ   R10
	JNZ    amax
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	QA_SCALE
	VBROADCASTSS X1, Y1
	MOVQ         BX, R10

chunk:
	VMULPS    (SI), Y1, Y2
	VMULPS    32(SI), Y1, Y3
	VMULPS    64(SI), Y1, Y4
	VMULPS    96(SI), Y1, Y5
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VCVTPS2DQ Y4, Y4
	VCVTPS2DQ Y5, Y5
	VPACKSSDW Y3, Y2, Y6
	VPACKSSDW Y5, Y4, Y7
	VPACKSSWB Y7, Y6, Y6
	VPERMD    Y6, Y12, Y6
	VMOVDQU   Y6, (DI)
	TESTQ     R8, R8
	JZ        next
	VPADDD       Y3, Y2, Y2
	VPADDD       Y5, Y4, Y4
	VPADDD       Y4, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDD       X3, X2, X2
	QA_SUM

next:
	QA_NEXT
	RET
