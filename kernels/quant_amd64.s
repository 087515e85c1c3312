//go:build !purego

#include "textflag.h"
#include "simd_amd64.h"

// Integer dot products of GGUF-quantized weight rows with int8 activations
// (see quant.go for the formulas and quant_amd64.go for the selection).

// func dotQ8_0AVX2(w *byte, x *int8, dx *float32, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ nb+24(FP), CX
	VXORPS   Y0, Y0, Y0
	VPCMPEQW Y7, Y7, Y7
	VPSRLW   $15, Y7, Y7 // int16 ones for VPMADDWD

loop:
	VMOVDQU 2(SI), Y1
	VMOVDQU (DI), Y2
	VPSIGNB Y1, Y2, Y2 // x with w's sign
	VPABSB  Y1, Y1     // |w| as unsigned bytes
	VPMADDUBSW Y2, Y1, Y3
	VPMADDWD   Y7, Y3, Y3
	VCVTDQ2PS    Y3, Y3
	VPBROADCASTW (SI), X4
	VCVTPH2PS    X4, Y4
	VBROADCASTSS (DX), Y5
	VMULPS       Y5, Y4, Y4
	VFMADD231PS  Y4, Y3, Y0
	ADDQ         $34, SI
	ADDQ         $32, DI
	ADDQ         $4, DX
	DECQ         CX
	JNZ          loop
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func dotQ8_0VNNI(w *byte, x *int8, dx *float32, nb int) float32
TEXT ·dotQ8_0VNNI(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ nb+24(FP), CX
	VXORPS   Y0, Y0, Y0
	VPCMPEQW Y7, Y7, Y7
	VPSRLW   $15, Y7, Y7 // int16 ones for VPMADDWD

loop:
	VMOVDQU 2(SI), Y1
	VMOVDQU (DI), Y2
	VPSIGNB Y1, Y2, Y2 // x with w's sign
	VPABSB  Y1, Y1     // |w| as unsigned bytes
	VPXOR    Y3, Y3, Y3
	VPDPBUSD Y2, Y1, Y3
	VCVTDQ2PS    Y3, Y3
	VPBROADCASTW (SI), X4
	VCVTPH2PS    X4, Y4
	VBROADCASTSS (DX), Y5
	VMULPS       Y5, Y4, Y4
	VFMADD231PS  Y4, Y3, Y0
	ADDQ         $34, SI
	ADDQ         $32, DI
	ADDQ         $4, DX
	DECQ         CX
	JNZ          loop
	HSUM
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func dotQ4_KAVX2(w *byte, x *int8, dx *float32, sums *int32, nb int) float32
TEXT ·dotQ4_KAVX2(SB), NOSPLIT, $16-44
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ sums+24(FP), R8
	MOVQ nb+32(FP), CX
	VXORPS       Y0, Y0, Y0 // d·sc·Σq·x terms
	VXORPS       Y1, Y1, Y1 // dmin·m·Σx terms
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

block:
	// the 8 scales (R10) and mins (R13) of get_scale_min_k4
	MOVL  4(SI), AX
	MOVL  8(SI), BX
	MOVL  12(SI), R9
	MOVL  AX, R10
	ANDL  $0x3f3f3f3f, R10
	MOVL  R9, R11
	ANDL  $0x0f0f0f0f, R11
	MOVL  AX, R12
	SHRL  $6, R12
	ANDL  $0x03030303, R12
	SHLL  $4, R12
	ORL   R12, R11
	MOVL  BX, R13
	ANDL  $0x3f3f3f3f, R13
	MOVL  R9, AX
	SHRL  $4, AX
	ANDL  $0x0f0f0f0f, AX
	MOVL  BX, R12
	SHRL  $6, R12
	ANDL  $0x03030303, R12
	SHLL  $4, R12
	ORL   R12, AX
	SHLQ  $32, R11
	ORQ   R11, R10
	SHLQ  $32, AX
	ORQ   AX, R13
	VMOVQ R10, X2
	VPMOVZXBW X2, X2
	VMOVDQU   X2, sc-16(SP) // 8 int16 scales, broadcast one at a time below

	// mins: dmin·dx·Σ_j m_j·sums_j
	VMOVQ        R13, X3
	VPMOVZXBD    X3, Y3
	VPMULLD      (R8), Y3, Y3
	VCVTDQ2PS    Y3, Y3
	VPBROADCASTW 2(SI), X4
	VCVTPH2PS    X4, Y4
	VBROADCASTSS (DX), Y5
	VMULPS       Y5, Y4, Y4
	VFMADD231PS  Y4, Y3, Y1

	// Σ_j sc_j·Σ q·x, 64 values (two sub-blocks) per 32 bytes of nibbles
	VPXOR Y6, Y6, Y6
	VMOVDQU      16(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   0(DI), Y8, Y8
	VPMADDUBSW   32(DI), Y7, Y7
	VPBROADCASTW sc-16(SP), Y9
	VPBROADCASTW sc-14(SP), Y10
	VPMADDWD Y9, Y8, Y8
	VPADDD   Y8, Y6, Y6
	VPMADDWD Y10, Y7, Y7
	VPADDD   Y7, Y6, Y6
	VMOVDQU      48(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   64(DI), Y8, Y8
	VPMADDUBSW   96(DI), Y7, Y7
	VPBROADCASTW sc-12(SP), Y9
	VPBROADCASTW sc-10(SP), Y10
	VPMADDWD Y9, Y8, Y8
	VPADDD   Y8, Y6, Y6
	VPMADDWD Y10, Y7, Y7
	VPADDD   Y7, Y6, Y6
	VMOVDQU      80(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   128(DI), Y8, Y8
	VPMADDUBSW   160(DI), Y7, Y7
	VPBROADCASTW sc-8(SP), Y9
	VPBROADCASTW sc-6(SP), Y10
	VPMADDWD Y9, Y8, Y8
	VPADDD   Y8, Y6, Y6
	VPMADDWD Y10, Y7, Y7
	VPADDD   Y7, Y6, Y6
	VMOVDQU      112(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   192(DI), Y8, Y8
	VPMADDUBSW   224(DI), Y7, Y7
	VPBROADCASTW sc-4(SP), Y9
	VPBROADCASTW sc-2(SP), Y10
	VPMADDWD Y9, Y8, Y8
	VPADDD   Y8, Y6, Y6
	VPMADDWD Y10, Y7, Y7
	VPADDD   Y7, Y6, Y6

	VCVTDQ2PS    Y6, Y6
	VPBROADCASTW (SI), X4
	VCVTPH2PS    X4, Y4
	VMULPS       Y5, Y4, Y4
	VFMADD231PS  Y4, Y6, Y0
	ADDQ         $144, SI
	ADDQ         $256, DI
	ADDQ         $4, DX
	ADDQ         $32, R8
	DECQ         CX
	JNZ          block
	VSUBPS Y1, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func dotQ4_KVNNI(w *byte, x *int8, dx *float32, sums *int32, nb int) float32
TEXT ·dotQ4_KVNNI(SB), NOSPLIT, $16-44
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ dx+16(FP), DX
	MOVQ sums+24(FP), R8
	MOVQ nb+32(FP), CX
	VXORPS       Y0, Y0, Y0 // d·sc·Σq·x terms
	VXORPS       Y1, Y1, Y1 // dmin·m·Σx terms
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

block:
	// the 8 scales (R10) and mins (R13) of get_scale_min_k4
	MOVL  4(SI), AX
	MOVL  8(SI), BX
	MOVL  12(SI), R9
	MOVL  AX, R10
	ANDL  $0x3f3f3f3f, R10
	MOVL  R9, R11
	ANDL  $0x0f0f0f0f, R11
	MOVL  AX, R12
	SHRL  $6, R12
	ANDL  $0x03030303, R12
	SHLL  $4, R12
	ORL   R12, R11
	MOVL  BX, R13
	ANDL  $0x3f3f3f3f, R13
	MOVL  R9, AX
	SHRL  $4, AX
	ANDL  $0x0f0f0f0f, AX
	MOVL  BX, R12
	SHRL  $6, R12
	ANDL  $0x03030303, R12
	SHLL  $4, R12
	ORL   R12, AX
	SHLQ  $32, R11
	ORQ   R11, R10
	SHLQ  $32, AX
	ORQ   AX, R13
	VMOVQ R10, X2
	VPMOVZXBW X2, X2
	VMOVDQU   X2, sc-16(SP) // 8 int16 scales, broadcast one at a time below

	// mins: dmin·dx·Σ_j m_j·sums_j
	VMOVQ        R13, X3
	VPMOVZXBD    X3, Y3
	VPMULLD      (R8), Y3, Y3
	VCVTDQ2PS    Y3, Y3
	VPBROADCASTW 2(SI), X4
	VCVTPH2PS    X4, Y4
	VBROADCASTSS (DX), Y5
	VMULPS       Y5, Y4, Y4
	VFMADD231PS  Y4, Y3, Y1

	// Σ_j sc_j·Σ q·x, 64 values (two sub-blocks) per 32 bytes of nibbles
	VPXOR Y6, Y6, Y6
	VMOVDQU      16(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   0(DI), Y8, Y8
	VPMADDUBSW   32(DI), Y7, Y7
	VPBROADCASTW sc-16(SP), Y9
	VPBROADCASTW sc-14(SP), Y10
	VPDPWSSD Y9, Y8, Y6
	VPDPWSSD Y10, Y7, Y6
	VMOVDQU      48(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   64(DI), Y8, Y8
	VPMADDUBSW   96(DI), Y7, Y7
	VPBROADCASTW sc-12(SP), Y9
	VPBROADCASTW sc-10(SP), Y10
	VPDPWSSD Y9, Y8, Y6
	VPDPWSSD Y10, Y7, Y6
	VMOVDQU      80(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   128(DI), Y8, Y8
	VPMADDUBSW   160(DI), Y7, Y7
	VPBROADCASTW sc-8(SP), Y9
	VPBROADCASTW sc-6(SP), Y10
	VPDPWSSD Y9, Y8, Y6
	VPDPWSSD Y10, Y7, Y6
	VMOVDQU      112(SI), Y7
	VPAND        Y15, Y7, Y8
	VPSRLW       $4, Y7, Y7
	VPAND        Y15, Y7, Y7
	VPMADDUBSW   192(DI), Y8, Y8
	VPMADDUBSW   224(DI), Y7, Y7
	VPBROADCASTW sc-4(SP), Y9
	VPBROADCASTW sc-2(SP), Y10
	VPDPWSSD Y9, Y8, Y6
	VPDPWSSD Y10, Y7, Y6

	VCVTDQ2PS    Y6, Y6
	VPBROADCASTW (SI), X4
	VCVTPH2PS    X4, Y4
	VMULPS       Y5, Y4, Y4
	VFMADD231PS  Y4, Y6, Y0
	ADDQ         $144, SI
	ADDQ         $256, DI
	ADDQ         $4, DX
	ADDQ         $32, R8
	DECQ         CX
	JNZ          block
	VSUBPS Y1, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET
