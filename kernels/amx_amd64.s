//go:build !purego

#include "textflag.h"

// AMX instructions, encoded by hand because the Go assembler lacks them
// (checked against GNU as/objdump). Registers: tmm0-3 accumulate the
// 32x32 float32 block of C, tmm4/5 hold A's two 16-row tiles, tmm6/7 B's
// two 16-column tiles; SI/DI point at the two row halves with the row
// stride in CX, AX/BX at the two B tiles with their 64-byte stride in DX.
#define LDTILECFG_AX       BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x00
#define TILERELEASE        BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
#define TILEZERO(modrm)    BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $modrm
#define TILELOADD          BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B
#define TILESTORED         BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B

#define ZERO_C TILEZERO(0xC0); TILEZERO(0xC8); TILEZERO(0xD0); TILEZERO(0xD8)

// C tiles: tmm0 (SI+CX), tmm1 (SI+CX+64), tmm2 (DI+CX), tmm3 (DI+CX+64).
#define C_TILES(op) \
	op; BYTE $0x04; BYTE $0x0E; \
	op; BYTE $0x4C; BYTE $0x0E; BYTE $0x40; \
	op; BYTE $0x14; BYTE $0x0F; \
	op; BYTE $0x5C; BYTE $0x0F; BYTE $0x40

// Both kernels loop over n blocks, a, b and c advancing by ainc, binc and
// cinc bytes from one to the next: loading the tile configuration costs
// about as much as 8 TDPBF16PS, so one call covers a whole row or column
// of blocks.

// func amxBF16Tile(cfg *[64]byte, a unsafe.Pointer, lda int, b unsafe.Pointer, bhalf int, c *float32, ldc int, kb int, n int, ainc int, binc int, cinc int)
//
// Per block, C (32x32 float32, row stride ldc bytes) = A·B, where A is 32
// rows of kb*32 bf16 (row stride lda bytes) and B is two 16-column halves
// bhalf bytes apart, each kb 1 KiB tiles of 16 rows of 16 bf16 pairs (row
// q, column j: B(2q, j), B(2q+1, j)). kb, n >= 1. The tile configuration
// is loaded and released here, so no tile state outlives the call.
TEXT ·amxBF16Tile(SB), NOSPLIT, $0-96
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ a+8(FP), R10
	MOVQ b+24(FP), R11
	MOVQ c+40(FP), R12
	MOVQ n+64(FP), R13

block:
	ZERO_C
	MOVQ R10, SI
	MOVQ lda+16(FP), CX
	MOVQ CX, DI
	SHLQ $4, DI
	ADDQ SI, DI
	MOVQ R11, AX
	MOVQ bhalf+32(FP), BX
	ADDQ AX, BX
	MOVQ $64, DX
	MOVQ kb+56(FP), R9

loop:
	TILELOADD; BYTE $0x24; BYTE $0x0E // tmm4 = A rows 0-15  (SI+CX)
	TILELOADD; BYTE $0x2C; BYTE $0x0F // tmm5 = A rows 16-31 (DI+CX)
	TILELOADD; BYTE $0x34; BYTE $0x10 // tmm6 = B columns 0-15  (AX+DX)
	TILELOADD; BYTE $0x3C; BYTE $0x13 // tmm7 = B columns 16-31 (BX+DX)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4 // TDPBF16PS tmm0, tmm4, tmm6
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xCC // TDPBF16PS tmm1, tmm4, tmm7
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xD5 // TDPBF16PS tmm2, tmm5, tmm6
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xDD // TDPBF16PS tmm3, tmm5, tmm7
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $1024, AX
	ADDQ $1024, BX
	DECQ R9
	JNZ  loop

	MOVQ R12, SI
	MOVQ ldc+48(FP), CX
	MOVQ CX, DI
	SHLQ $4, DI
	ADDQ SI, DI
	C_TILES(TILESTORED)
	ADDQ ainc+72(FP), R10
	ADDQ binc+80(FP), R11
	ADDQ cinc+88(FP), R12
	DECQ R13
	JNZ  block
	TILERELEASE
	RET

// func amxBF16SplitTile(cfg *[64]byte, a unsafe.Pointer, lda int, b unsafe.Pointer, ldb int, c *float32, ldc int, steps int, load int, n int, ainc int, binc int, cinc int)
//
// The backward tile, with B read in place from a row-major weight. Per
// block, C (16 rows of 64 float32, row stride ldc bytes, as four 16-column
// tiles) = A·B (+ C when load != 0) over steps depth steps of 16. Per step,
// B is 16 rows of 64 bf16 (row stride ldb bytes, then the next step 16
// rows on) taken as two tiles of 16 pairs, and A is 16 rows (stride lda
// bytes) of two 16-word tiles, the step's 16 values of the row as (x, 0)
// pairs then as (0, x) pairs (the next step 128 bytes on), so that
//
//	tmm0 += A(x,0)·B[:, 0:32]   even columns 0-31    tmm1 += A(0,x)·B[:, 0:32]   odd columns
//	tmm2 += A(x,0)·B[:, 32:64]  even columns 32-63   tmm3 += A(0,x)·B[:, 32:64]  odd columns
//
// C's tiles are tmm0-3 left to right; the caller interleaves them.
TEXT ·amxBF16SplitTile(SB), NOSPLIT, $0-104
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ a+8(FP), R10
	MOVQ b+24(FP), R11
	MOVQ c+40(FP), R12
	MOVQ n+72(FP), R13

sblock:
	MOVQ R12, SI
	MOVQ ldc+48(FP), CX
	LEAQ 128(SI), DI
	MOVQ load+64(FP), R8
	TESTQ R8, R8
	JZ   szero
	C_TILES(TILELOADD)
	JMP  scompute

szero:
	ZERO_C

scompute:
	MOVQ R10, SI
	MOVQ lda+16(FP), CX
	MOVQ R11, AX
	MOVQ ldb+32(FP), DX
	MOVQ DX, BX
	SHLQ $4, BX
	MOVQ steps+56(FP), R9

sloop:
	TILELOADD; BYTE $0x24; BYTE $0x0E             // tmm4 = A (x, 0)  (SI+CX)
	TILELOADD; BYTE $0x6C; BYTE $0x0E; BYTE $0x40 // tmm5 = A (0, x)  (SI+CX+64)
	TILELOADD; BYTE $0x34; BYTE $0x10             // tmm6 = B columns 0-31  (AX+DX)
	TILELOADD; BYTE $0x7C; BYTE $0x10; BYTE $0x40 // tmm7 = B columns 32-63 (AX+DX+64)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4 // TDPBF16PS tmm0, tmm4, tmm6
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xCD // TDPBF16PS tmm1, tmm5, tmm6
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xD4 // TDPBF16PS tmm2, tmm4, tmm7
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xDD // TDPBF16PS tmm3, tmm5, tmm7
	ADDQ $128, SI
	ADDQ BX, AX
	DECQ R9
	JNZ  sloop

	MOVQ R12, SI
	MOVQ ldc+48(FP), CX
	LEAQ 128(SI), DI
	C_TILES(TILESTORED)
	ADDQ ainc+80(FP), R10
	ADDQ binc+88(FP), R11
	ADDQ cinc+96(FP), R12
	DECQ R13
	JNZ  sblock
	TILERELEASE
	RET
