//go:build !purego

#include "textflag.h"

// gemvQ8_0x4VNNI and gemvQ8_0x4AVX2 (q8_gemv_amd64.go): four Q8_0 weight
// rows times one row of int8 activations. SI, R10, R11, R12 point at the
// rows, BX is the byte offset of the current block in each, R14 the start
// of the next four rows and R8 of the fourth group after these (both
// prefetched), DI the activations, DX their scales,
// CX counts blocks. Y0-Y3 accumulate the rows, Y4 holds the block of x, Y5
// its scale, Y15 int16 ones (AVX2).
#define X4_START \
	MOVQ     w0+0(FP), SI \
	MOVQ     w1+8(FP), R10 \
	MOVQ     w2+16(FP), R11 \
	MOVQ     w3+24(FP), R12 \
	MOVQ     x+32(FP), DI \
	MOVQ     dx+40(FP), DX \
	MOVQ     nb+48(FP), CX \
	XORQ     BX, BX \
	MOVQ     R12, R14 \
	SUBQ     R11, R14 \
	IMUL3Q   $12, R14, R8 \
	ADDQ     R12, R14 \
	ADDQ     R14, R8 \
	VXORPS   Y0, Y0, Y0 \
	VXORPS   Y1, Y1, Y1 \
	VXORPS   Y2, Y2, Y2 \
	VXORPS   Y3, Y3, Y3 \
	VPCMPEQW Y15, Y15, Y15 \
	VPSRLW   $15, Y15, Y15

// X4_ROW adds the block at BX of row R, dw·dx·Σ w·x per lane, to ACC: |w|
// as unsigned bytes times x with w's sign (exact for every w, -128
// included), summed into int32 lanes by DOT.
#define X4_ROW(R, ACC, DOT) \
	VMOVDQU      2(R)(BX*1), Y6 \
	VPSIGNB      Y6, Y4, Y7 \
	VPABSB       Y6, Y6 \
	DOT(Y7, Y6, Y8) \
	VCVTDQ2PS    Y8, Y8 \
	VPBROADCASTW (R)(BX*1), X9 \
	VCVTPH2PS    X9, Y9 \
	VMULPS       Y5, Y9, Y9 \
	VFMADD231PS  Y9, Y8, ACC

// DOT_VNNI and DOT_AVX2 put Σ u·s over each 4 bytes in the int32 lanes of
// t: VPDPBUSD, or VPMADDUBSW (|w|·x pairs stay within int16: 2·128·127)
// and VPMADDWD by ones.
#define DOT_VNNI(s, u, t) \
	VPXOR    t, t, t \
	VPDPBUSD s, u, t

#define DOT_AVX2(s, u, t) \
	VPMADDUBSW s, u, t \
	VPMADDWD   Y15, t, t

// X4_PREFETCH fetches the next four rows into L1 while these are summed,
// and the four after the next three groups into L2: the rows follow these
// in memory, so 4·34 bytes of each per block of these keeps both streams
// ahead of the loads (in a GPT-2 decode's worth of products on one thread,
// 13.2 ms without the L2 stream, 11.2 with, 19 with neither; load 15).
#define X4_PREFETCH \
	PREFETCHT0 (R14)(BX*4) \
	PREFETCHT0 64(R14)(BX*4) \
	PREFETCHT0 128(R14)(BX*4) \
	PREFETCHT1 (R8)(BX*4) \
	PREFETCHT1 64(R8)(BX*4) \
	PREFETCHT1 128(R8)(BX*4)

// X4_END writes the four rows' lane sums to y[0..3]: lane i plus lane i+4,
// then pairs, the same order for every row.
#define X4_END \
	MOVQ         y+56(FP), R13 \
	VPERM2F128   $0x20, Y1, Y0, Y8 \
	VPERM2F128   $0x31, Y1, Y0, Y9 \
	VADDPS       Y9, Y8, Y8 \
	VPERM2F128   $0x20, Y3, Y2, Y10 \
	VPERM2F128   $0x31, Y3, Y2, Y11 \
	VADDPS       Y11, Y10, Y10 \
	VHADDPS      Y10, Y8, Y8 \
	VHADDPS      Y8, Y8, Y8 \
	VEXTRACTF128 $1, Y8, X9 \
	VUNPCKLPS    X9, X8, X8 \
	VMOVUPS      X8, (R13) \
	VZEROUPPER

#define X4_DOT(DOT) \
	X4_START \
loop: \
	X4_PREFETCH \
	VMOVDQU      (DI), Y4 \
	VBROADCASTSS (DX), Y5 \
	X4_ROW(SI, Y0, DOT) \
	X4_ROW(R10, Y1, DOT) \
	X4_ROW(R11, Y2, DOT) \
	X4_ROW(R12, Y3, DOT) \
	ADDQ         $34, BX \
	ADDQ         $32, DI \
	ADDQ         $4, DX \
	DECQ         CX \
	JNZ          loop \
	X4_END

// func gemvQ8_0x4VNNI(w0, w1, w2, w3 *byte, x *int8, dx *float32, nb int, y *float32)
TEXT ·gemvQ8_0x4VNNI(SB), NOSPLIT, $0-64
	X4_DOT(DOT_VNNI)
	RET

// func gemvQ8_0x4AVX2(w0, w1, w2, w3 *byte, x *int8, dx *float32, nb int, y *float32)
TEXT ·gemvQ8_0x4AVX2(SB), NOSPLIT, $0-64
	X4_DOT(DOT_AVX2)
	RET
