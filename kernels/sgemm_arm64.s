//go:build !purego

#include "textflag.h"

// The 8x12 NEON micro-kernel. Twenty-four accumulators hold the 8x12 C
// tile (row i in V(3i), V(3i+1), V(3i+2)); each k step loads the 12 floats
// of the packed B panel into V24-V26 with one post-incremented load and
// broadcasts the 8 packed A values in turn with load-and-replicate
// (VLD1R), which uses the load pipes rather than the FMA pipes a lane
// duplicate would: 24 FMAs per 9 loads. Five broadcast registers rotate
// so consecutive rows do not wait on each other's loads.
//
// Register use: R0 k left, R1 A panel, R2 B panel, R3 C row, R4 ldc in
// bytes.

// ROW broadcasts the next A value into t and adds t times the B row to
// one row of accumulators.
#define ROW(t, c0, c1, c2) \
	VLD1R.P 4(R1), [t.S4]     \
	VFMLA   V24.S4, t.S4, c0.S4 \
	VFMLA   V25.S4, t.S4, c1.S4 \
	VFMLA   V26.S4, t.S4, c2.S4

#define ZERO3(c0, c1, c2) \
	VEOR c0.B16, c0.B16, c0.B16 \
	VEOR c1.B16, c1.B16, c1.B16 \
	VEOR c2.B16, c2.B16, c2.B16

// STORE0 writes one row of C; STOREB adds beta (in V27) times C first.
#define STORE0(c0, c1, c2) \
	VST1 [c0.S4, c1.S4, c2.S4], (R3) \
	ADD  R4, R3

#define STOREB(c0, c1, c2) \
	VLD1  (R3), [V28.S4, V29.S4, V30.S4] \
	VFMLA V27.S4, V28.S4, c0.S4          \
	VFMLA V27.S4, V29.S4, c1.S4          \
	VFMLA V27.S4, V30.S4, c2.S4          \
	STORE0(c0, c1, c2)

// TILE applies op (ZERO3, STORE0 or STOREB) to the eight rows.
#define TILE(op) \
	op(V0, V1, V2)    \
	op(V3, V4, V5)    \
	op(V6, V7, V8)    \
	op(V9, V10, V11)  \
	op(V12, V13, V14) \
	op(V15, V16, V17) \
	op(V18, V19, V20) \
	op(V21, V22, V23)

// func sgemmKernel8x12(k int, a, b, c *float32, ldc int, beta float32)
TEXT ·sgemmKernel8x12(SB), NOSPLIT, $0-44
	MOVD k+0(FP), R0
	MOVD a+8(FP), R1
	MOVD b+16(FP), R2
	MOVD c+24(FP), R3
	MOVD ldc+32(FP), R4
	LSL  $2, R4, R4
	TILE(ZERO3)

loop:
	CBZ    R0, store
	VLD1.P 48(R2), [V24.S4, V25.S4, V26.S4]
	ROW(V27, V0, V1, V2)
	ROW(V28, V3, V4, V5)
	ROW(V29, V6, V7, V8)
	ROW(V30, V9, V10, V11)
	ROW(V31, V12, V13, V14)
	ROW(V27, V15, V16, V17)
	ROW(V28, V18, V19, V20)
	ROW(V29, V21, V22, V23)
	SUB    $1, R0, R0
	B      loop

store:
	FMOVS beta+40(FP), F27
	FCMPS $(0.0), F27
	BNE   storebeta // unordered (a NaN beta) also, as on amd64
	TILE(STORE0)
	RET

storebeta:
	VDUP V27.S[0], V27.S4
	TILE(STOREB)
	RET
