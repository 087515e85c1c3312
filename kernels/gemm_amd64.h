// Macros shared by the GEMM micro-kernels of sgemm_amd64.s and
// sgemm_avx512_amd64.s. Every kernel takes (k int, a, b, c *float32,
// ldc int, beta float32, ...) and keeps these registers.

#define K_REM CX
#define A_PTR AX
#define B_PTR BX
#define C_PTR DX
#define LDC_BYTES R8

// KERNEL_ARGS loads the common arguments; R9 walks the rows of C for the
// kernel's C prefetches.
#define KERNEL_ARGS \
	MOVQ k+0(FP), K_REM        \
	MOVQ a+8(FP), A_PTR        \
	MOVQ b+16(FP), B_PTR       \
	MOVQ c+24(FP), C_PTR       \
	MOVQ ldc+32(FP), LDC_BYTES \
	SHLQ $2, LDC_BYTES         \
	MOVQ C_PTR, R9

// PREFETCH_4ROWS touches four rows of the C tile early, so their lines
// arrive while the loop runs; each file defines PREFETCH_ROW for its tile
// width.
#define PREFETCH_4ROWS \
	PREFETCH_ROW \
	PREFETCH_ROW \
	PREFETCH_ROW \
	PREFETCH_ROW

// PACK_ARGS loads the row-major B panel source of the packing kernels:
// src in SI, its row stride in bytes in R11.
#define PACK_ARGS \
	MOVQ src+48(FP), SI    \
	MOVQ ldsrc+56(FP), R11 \
	SHLQ $2, R11

// PACK_LOOP runs the whole k loop with pstep, then jumps to store, when
// src (SI) is set; otherwise it falls through to the kernel's plain loop.
#define PACK_LOOP(pstep) \
	TESTQ SI, SI       \
	JE    nopack       \
packloop:              \
	TESTQ K_REM, K_REM \
	JE    store        \
	pstep              \
	DECQ  K_REM        \
	JMP   packloop     \
nopack:

// KERNEL_START begins a full-tile kernel: arguments, the C prefetch,
// zeroed accumulators, and the whole k loop with PSTEP when src is set.
#define KERNEL_START(prefetch, zero) \
	KERNEL_ARGS      \
	PACK_ARGS        \
	prefetch         \
	zero             \
	PACK_LOOP(PSTEP)

// EDGE_START begins a 4-row edge kernel: arguments, the A row stride in
// bytes in R10, and the C prefetch.
#define EDGE_START \
	KERNEL_ARGS              \
	MOVQ astride+48(FP), R10 \
	SHLQ $2, R10             \
	PREFETCH_4ROWS

// FINISH ends a kernel at the label store: it writes the tile with
// rows(STORE0) when beta == 0, else (a NaN beta included) broadcasts beta
// into breg and writes with rows(STOREB). x0 and x1 are scratch xmm
// registers.
#define FINISH(rows, breg, x0, x1) \
store:                                 \
	VXORPS       x0, x0, x0         \
	VMOVSS       beta+40(FP), x1    \
	VUCOMISS     x0, x1             \
	JNE          storebeta          \
	JP           storebeta          \
	rows(STORE0)                    \
	VZEROUPPER                      \
	RET                             \
storebeta:                             \
	VBROADCASTSS beta+40(FP), breg  \
	rows(STOREB)                    \
	VZEROUPPER                      \
	RET
