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

// func amxBF16Tile(cfg *[64]byte, a unsafe.Pointer, lda int, b unsafe.Pointer, bhalf int, c *float32, ldc int, kb int, load int, n int, ainc int, binc int, cinc int)
//
// Per block, C (32x32 float32, row stride ldc bytes) = A·B (+ C when load
// != 0), where A is 32
// rows of kb*32 bf16 (row stride lda bytes) and B is two 16-column halves
// bhalf bytes apart, each kb 1 KiB tiles of 16 rows of 16 bf16 pairs (row
// q, column j: B(2q, j), B(2q+1, j)). kb, n >= 1. The tile configuration
// is loaded and released here, so no tile state outlives the call.
TEXT ·amxBF16Tile(SB), NOSPLIT, $0-104
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ a+8(FP), R10
	MOVQ b+24(FP), R11
	MOVQ c+40(FP), R12
	MOVQ n+72(FP), R13

block:
	MOVQ load+64(FP), R8
	TESTQ R8, R8
	JZ   zero
	MOVQ R12, SI
	MOVQ ldc+48(FP), CX
	MOVQ CX, DI
	SHLQ $4, DI
	ADDQ SI, DI
	C_TILES(TILELOADD)
	JMP  compute

zero:
	ZERO_C

compute:
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
	ADDQ ainc+80(FP), R10
	ADDQ binc+88(FP), R11
	ADDQ cinc+96(FP), R12
	DECQ R13
	JNZ  block
	TILERELEASE
	RET

// func amxBF16Tile16(cfg *[64]byte, a unsafe.Pointer, lda int, b unsafe.Pointer, c *float32, ldc int, kb int, n int, ainc int, cinc int)
//
// amxBF16Tile for one 16-column B operand (at most 16 rows of the
// activations: decode): per block, C (32 rows of 16 float32, row stride
// ldc bytes: tmm0 rows 0-15, tmm2 rows 16-31) = A·B, two TDPBF16PS per
// step instead of four. B is the same for every block (kb 1 KiB tiles).
TEXT ·amxBF16Tile16(SB), NOSPLIT, $0-80
	MOVQ cfg+0(FP), AX
	LDTILECFG_AX
	MOVQ a+8(FP), R10
	MOVQ c+32(FP), R12
	MOVQ n+56(FP), R13

block16:
	TILEZERO(0xC0)
	TILEZERO(0xD0)
	MOVQ R10, SI
	MOVQ lda+16(FP), CX
	MOVQ CX, DI
	SHLQ $4, DI
	ADDQ SI, DI
	MOVQ b+24(FP), AX
	MOVQ $64, DX
	MOVQ kb+48(FP), R9

loop16:
	TILELOADD; BYTE $0x24; BYTE $0x0E // tmm4 = A rows 0-15  (SI+CX)
	TILELOADD; BYTE $0x2C; BYTE $0x0F // tmm5 = A rows 16-31 (DI+CX)
	TILELOADD; BYTE $0x34; BYTE $0x10 // tmm6 = B (AX+DX)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4 // TDPBF16PS tmm0, tmm4, tmm6
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xD5 // TDPBF16PS tmm2, tmm5, tmm6
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $1024, AX
	DECQ R9
	JNZ  loop16

	MOVQ R12, SI
	MOVQ ldc+40(FP), CX
	MOVQ CX, DI
	SHLQ $4, DI
	ADDQ SI, DI
	TILESTORED; BYTE $0x04; BYTE $0x0E // tmm0 (SI+CX)
	TILESTORED; BYTE $0x14; BYTE $0x0F // tmm2 (DI+CX)
	ADDQ ainc+64(FP), R10
	ADDQ cinc+72(FP), R12
	DECQ R13
	JNZ  block16
	TILERELEASE
	RET

// Word indices for VPERMI2W interleaving two 32-word rows r0 (indices
// 0-31) and r1 (32-63): the first 64 bytes give (r0[j], r1[j]) for j < 16,
// the next for 16 <= j < 32.
DATA pairIdx<>+0(SB)/8, $0x0021000100200000
DATA pairIdx<>+8(SB)/8, $0x0023000300220002
DATA pairIdx<>+16(SB)/8, $0x0025000500240004
DATA pairIdx<>+24(SB)/8, $0x0027000700260006
DATA pairIdx<>+32(SB)/8, $0x0029000900280008
DATA pairIdx<>+40(SB)/8, $0x002b000b002a000a
DATA pairIdx<>+48(SB)/8, $0x002d000d002c000c
DATA pairIdx<>+56(SB)/8, $0x002f000f002e000e
DATA pairIdx<>+64(SB)/8, $0x0031001100300010
DATA pairIdx<>+72(SB)/8, $0x0033001300320012
DATA pairIdx<>+80(SB)/8, $0x0035001500340014
DATA pairIdx<>+88(SB)/8, $0x0037001700360016
DATA pairIdx<>+96(SB)/8, $0x0039001900380018
DATA pairIdx<>+104(SB)/8, $0x003b001b003a001a
DATA pairIdx<>+112(SB)/8, $0x003d001d003c001c
DATA pairIdx<>+120(SB)/8, $0x003f001f003e001e
GLOBL pairIdx<>(SB), RODATA|NOPTR, $128

// func pairRowsBF16(dst *uint16, hstride int, bstride int, r0 *uint16, r1 *uint16, n int)
//
// Interleaves two rows of a bf16 matrix into the pairs of B tiles: for each
// of n 32-column blocks b, the 16 words (r0[32b+j], r1[32b+j]) for j < 16
// go to dst + b*bstride and those for 16 <= j < 32 to dst + b*bstride +
// hstride (byte offsets). n >= 1.
TEXT ·pairRowsBF16(SB), NOSPLIT, $0-48
	MOVQ      dst+0(FP), DI
	MOVQ      hstride+8(FP), DX
	MOVQ      bstride+16(FP), R8
	MOVQ      r0+24(FP), SI
	MOVQ      r1+32(FP), BX
	MOVQ      n+40(FP), CX
	VMOVDQU64 pairIdx<>+0(SB), Z30
	VMOVDQU64 pairIdx<>+64(SB), Z31

ploop:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (BX), Z1
	VMOVDQA64 Z30, Z2
	VMOVDQA64 Z31, Z3
	VPERMI2W  Z1, Z0, Z2
	VPERMI2W  Z1, Z0, Z3
	VMOVDQU64 Z2, (DI)
	VMOVDQU64 Z3, (DI)(DX*1)
	ADDQ      $64, SI
	ADDQ      $64, BX
	ADDQ      R8, DI
	DECQ      CX
	JNZ       ploop
	VZEROUPPER
	RET

// func narrowBF16AVX512(dst *uint16, src *float32, n int)
//
// dst[i] = tensor.F32ToBF16(src[i]) for i < n, n a multiple of 16: round
// to nearest even on the bits (exact for subnormals, unlike VCVTNEPS2BF16,
// which flushes them), a NaN kept NaN and quieted.
TEXT ·narrowBF16AVX512(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	SHRQ         $4, CX
	JZ           ndone
	MOVL         $1, AX
	VPBROADCASTD AX, Z26
	MOVL         $0x7fff, AX
	VPBROADCASTD AX, Z27
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z28
	MOVL         $0x7f800000, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x40, AX
	VPBROADCASTD AX, Z30

nloop:
	VMOVDQU32 (SI), Z0
	VPSRLD    $16, Z0, Z1
	VPANDD    Z26, Z1, Z2
	VPADDD    Z27, Z2, Z2
	VPADDD    Z0, Z2, Z2
	VPSRLD    $16, Z2, Z2
	VPANDD    Z28, Z0, Z3
	VPCMPUD   $6, Z29, Z3, K1 // |x| > Inf: NaN
	VPORD     Z30, Z1, K1, Z2
	VPMOVDW   Z2, (DI)
	ADDQ      $64, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       nloop

ndone:
	VZEROUPPER
	RET

// Dword indices of a column of a 32x32 float32 block: 32j for j < 16.
DATA colIdx<>+0(SB)/8, $0x0000002000000000
DATA colIdx<>+8(SB)/8, $0x0000006000000040
DATA colIdx<>+16(SB)/8, $0x000000a000000080
DATA colIdx<>+24(SB)/8, $0x000000e0000000c0
DATA colIdx<>+32(SB)/8, $0x0000012000000100
DATA colIdx<>+40(SB)/8, $0x0000016000000140
DATA colIdx<>+48(SB)/8, $0x000001a000000180
DATA colIdx<>+56(SB)/8, $0x000001e0000001c0
GLOBL colIdx<>(SB), RODATA|NOPTR, $64

// func transposeBlockAVX512(c *float32, ldc int, t *float32, m int, load int)
//
// Writes the transpose of rows of a 32x32 float32 block t (row stride 32)
// to m rows of 32 values of C (row stride ldc bytes): C[i][j] = t[j][i]
// (+ C[i][j] when load != 0) for i < m. Each row of C is two gathers of a
// column of t. m >= 1.
TEXT ·transposeBlockAVX512(SB), NOSPLIT, $0-40
	MOVQ      c+0(FP), DI
	MOVQ      ldc+8(FP), DX
	MOVQ      t+16(FP), SI
	MOVQ      m+24(FP), CX
	MOVQ      load+32(FP), R8
	VMOVDQU32 colIdx<>(SB), Z31

tloop:
	KXNORW     K1, K1, K1
	KXNORW     K2, K2, K2
	VGATHERDPS (SI)(Z31*4), K1, Z0
	VGATHERDPS 2048(SI)(Z31*4), K2, Z1
	TESTQ      R8, R8
	JZ         tstore
	VADDPS     (DI), Z0, Z0
	VADDPS     64(DI), Z1, Z1

tstore:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    $4, SI
	ADDQ    DX, DI
	DECQ    CX
	JNZ     tloop
	VZEROUPPER
	RET
