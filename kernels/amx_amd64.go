//go:build !purego

package kernels

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func amxBF16Tile(cfg *[64]byte, a unsafe.Pointer, lda int, b unsafe.Pointer, bhalf int, c *float32, ldc int, kb int, load int, n int, ainc int, binc int, cinc int)

//go:noescape
func amxBF16Tile16(cfg *[64]byte, a unsafe.Pointer, lda int, b unsafe.Pointer, c *float32, ldc int, kb int, n int, ainc int, cinc int)

//go:noescape
func pairRowsBF16(dst *uint16, hstride int, bstride int, r0 *uint16, r1 *uint16, n int)

//go:noescape
func narrowBF16AVX512(dst *uint16, src *float32, n int)

//go:noescape
func transposeBlockAVX512(c *float32, ldc int, t *float32, m int, load int)

// hasAVX512BW: VPERMI2W (pairRowsBF16) is AVX-512BW; every CPU with AMX has
// it.
var hasAVX512BW = cpu.X86.HasAVX512BW

// amxCfg is the tile configuration every AMX call loads: palette 1, tiles
// 0-7 all 16 rows of 64 bytes (16 float32 accumulators, or 32 bf16 = 16
// pairs per row for the operands).
var amxCfg = func() (c [64]byte) {
	c[0] = 1
	for t := 0; t < 8; t++ {
		c[16+2*t] = 64
		c[48+t] = 16
	}
	return c
}()

// amxAvailable reports whether the CPU has AMX-BF16 and Linux lets this
// process use the tile data state, which it grants on request only
// (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA; Linux 5.16+).
// The grant covers every thread of the process, and the kernel then saves
// tile state across signals and context switches. A refusal (older kernel,
// a sigaltstack too small for the larger signal frame) leaves the AVX
// paths.
var amxAvailable = func() bool {
	if !cpu.X86.HasAMXBF16 || !cpu.X86.HasAMXTile || !useAVX512 || !hasAVX512BW {
		return false
	}
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0)
	return errno == 0
}()

// useAMX selects the AMX BF16 GEMM for BF16 weights. GOLORA_NOAMX=1 turns
// it off, to compare with the AVX path.
var useAMX = amxAvailable && os.Getenv("GOLORA_NOAMX") != "1"

// amxTile is amxBF16Tile with its bounds checked; strides and steps count
// elements.
func amxTile(a []uint16, lda int, b []uint16, bhalf int, c []float32, ldc int, kb int, load bool, r amxBlocks) {
	if kb < 1 || !r.fits(len(a), 31*lda+32*kb, r.ainc) || !r.fits(len(b), bhalf+512*kb, r.binc) || !r.fits(len(c), 31*ldc+32, r.cinc) {
		panic("kernels: amxTile operands out of range")
	}
	amxBF16Tile(&amxCfg, unsafe.Pointer(&a[0]), 2*lda, unsafe.Pointer(&b[0]), 2*bhalf, &c[0], 4*ldc, kb, b2i(load), r.n, 2*r.ainc, 2*r.binc, 4*r.cinc)
}

// amxTile16 is amxBF16Tile16 with its bounds checked; strides and steps
// count elements.
func amxTile16(a []uint16, lda int, b []uint16, c []float32, ldc int, kb int, r amxBlocks) {
	if kb < 1 || !r.fits(len(a), 31*lda+32*kb, r.ainc) || len(b) < 512*kb || !r.fits(len(c), 31*ldc+16, r.cinc) {
		panic("kernels: amxTile16 operands out of range")
	}
	amxBF16Tile16(&amxCfg, unsafe.Pointer(&a[0]), 2*lda, unsafe.Pointer(&b[0]), &c[0], 4*ldc, kb, r.n, 2*r.ainc, 4*r.cinc)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// narrowBF16 writes tensor.F32ToBF16(src[i]) to dst[i] for i < len(src).
func narrowBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	n := len(src) &^ 15
	if n > 0 && useAVX512 && hasAVX512BW {
		narrowBF16AVX512(&dst[0], &src[0], n)
	} else {
		n = 0
	}
	narrowBF16Generic(dst[n:], src[n:])
}

// pairRows is pairRowsBF16 over the leading n full 32-column blocks of r0
// and r1 where the CPU has it; it returns how many blocks it did.
func pairRows(d []uint16, half, block int, r0, r1 []uint16, n int) int {
	if n == 0 || !useAVX512 || !hasAVX512BW {
		return 0
	}
	if len(r0) < 32*n || len(r1) < 32*n || len(d) < (n-1)*block+half+32 {
		panic("kernels: pairRows operands out of range")
	}
	pairRowsBF16(&d[0], 2*half, 2*block, &r0[0], &r1[0], n)
	return n
}

// transposeBlock writes C[i][j] = t[j*32+i] (+ C[i][j] when add) for i < m
// and j < cols: a 32x32 tile block stored transposed.
func transposeBlock(c []float32, ldc int, t []float32, m, cols int, add bool) {
	if cols < 32 || m < 1 || !useAVX512 {
		transposeBlockGeneric(c, ldc, t, m, cols, add)
		return
	}
	if len(t) < 31*32+m || len(c) < (m-1)*ldc+32 {
		panic("kernels: transposeBlock operands out of range")
	}
	transposeBlockAVX512(&c[0], 4*ldc, &t[0], m, b2i(add))
}
