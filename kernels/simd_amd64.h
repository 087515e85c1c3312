// Macros shared by the amd64 assembly files of package kernels.

// ZERO4 clears four ymm registers; ZERO8 clears eight zmm registers with
// VPXORD, which needs only AVX-512F (VXORPS on zmm needs AVX-512DQ).
#define ZERO4(r0, r1, r2, r3) \
	VXORPS r0, r0, r0 \
	VXORPS r1, r1, r1 \
	VXORPS r2, r2, r2 \
	VXORPS r3, r3, r3

#define ZERO8(r0, r1, r2, r3, r4, r5, r6, r7) \
	VPXORD r0, r0, r0 \
	VPXORD r1, r1, r1 \
	VPXORD r2, r2, r2 \
	VPXORD r3, r3, r3 \
	VPXORD r4, r4, r4 \
	VPXORD r5, r5, r5 \
	VPXORD r6, r6, r6 \
	VPXORD r7, r7, r7

// HSUM reduces the 8 lanes of Y0 into the low lane of X0 (clobbers X1).
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0
