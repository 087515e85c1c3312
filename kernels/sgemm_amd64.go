//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// useAVX512 selects the 12x32 AVX-512 GEMM micro-kernel; x/sys/cpu reports
// AVX512F only when the OS also saves the zmm and mask registers.
var useAVX512 = useAVX2FMA && cpu.X86.HasAVX512F

// sgemmKernel6x16 computes the 6x16 tile
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 16; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += a[p*6+i] * b[p*16+j]
//			}
//			c[i*ldc+j] = s + beta*c[i*ldc+j] // c not read when beta == 0
//		}
//	}
//
// from a packed A panel (k×6) and a packed B panel (k×16). With src != nil
// it reads the B panel from a row-major B instead, b[p*16+j] being
// src[p*ldsrc+j], and writes it to b on the way.
//
//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, beta float32, src *float32, ldsrc int)

// sgemmKernel12x32 is sgemmKernel6x16 for a 12x32 tile: A panels of 12
// rows, B panels of 32 columns.
//
//go:noescape
func sgemmKernel12x32(k int, a, b, c *float32, ldc int, beta float32, src *float32, ldsrc int)

// sgemmKernel12x32A is sgemmKernel12x32 with A read in place: a[i*lda+p]
// for the 12 rows i, not a packed panel.
//
//go:noescape
func sgemmKernel12x32A(k int, a, b, c *float32, ldc int, beta float32, lda int)

// sgemmKernel4x16 is sgemmKernel6x16 for 4 rows of the tile, from an A
// panel whose rows are astride floats apart: a[p*astride+i] for i < 4.
//
//go:noescape
func sgemmKernel4x16(k int, a, b, c *float32, ldc int, beta float32, astride int)

// sgemmKernel4x32 is sgemmKernel12x32 for 4 rows of the tile, from an A
// panel whose rows are astride floats apart: a[p*astride+i] for i < 4.
//
//go:noescape
func sgemmKernel4x32(k int, a, b, c *float32, ldc int, beta float32, astride int)

// packBT8 packs 8 stored rows of B, k (a multiple of 8) values from each,
// into a B panel with row stride ldd:
//
//	for j := 0; j < 8; j++ {
//		for p := 0; p < k; p++ {
//			dst[p*ldd+j] = src[j*ldb+p]
//		}
//	}
//
//go:noescape
func packBT8(dst, src *float32, ldb, k, ldd int)

// packBT4 is packBT8 for 4 stored rows:
//
//	for j := 0; j < 4; j++ {
//		for p := 0; p < k; p++ {
//			dst[p*ldd+j] = src[j*ldb+p]
//		}
//	}
//
//go:noescape
func packBT4(dst, src *float32, ldb, k, ldd int)

// checkTile panics unless a, b and c hold a k-deep mr×nr product: the
// assembly kernels do no bounds checks of their own.
func checkTile(k, mr, nr int, a, b, c []float32, ldc int) {
	_ = c[(mr-1)*ldc+nr-1]
	_ = a[k*mr-1]
	_ = b[k*nr-1]
}

func kernelAVX2(k int, a, b, c []float32, ldc int, beta float32) {
	checkTile(k, 6, 16, a, b, c, ldc)
	sgemmKernel6x16(k, &a[0], &b[0], &c[0], ldc, beta, nil, 0)
}

func kernelAVX512(k int, a, b, c []float32, ldc int, beta float32) {
	checkTile(k, 12, 32, a, b, c, ldc)
	sgemmKernel12x32(k, &a[0], &b[0], &c[0], ldc, beta, nil, 0)
}

func kernelAVX2Pack(k int, a, b, c []float32, ldc int, beta float32, src []float32, ldsrc int) {
	checkTile(k, 6, 16, a, b, c, ldc)
	_ = src[(k-1)*ldsrc+15]
	sgemmKernel6x16(k, &a[0], &b[0], &c[0], ldc, beta, &src[0], ldsrc)
}

func kernelAVX512Pack(k int, a, b, c []float32, ldc int, beta float32, src []float32, ldsrc int) {
	checkTile(k, 12, 32, a, b, c, ldc)
	_ = src[(k-1)*ldsrc+31]
	sgemmKernel12x32(k, &a[0], &b[0], &c[0], ldc, beta, &src[0], ldsrc)
}

func kernelAVX512A(k int, a []float32, lda int, b, c []float32, ldc int, beta float32) {
	_ = c[11*ldc+31]
	_ = a[11*lda+k-1]
	_ = b[k*32-1]
	sgemmKernel12x32A(k, &a[0], &b[0], &c[0], ldc, beta, lda)
}

func kernelAVX2x4(k int, a []float32, astride int, b, c []float32, ldc int, beta float32) {
	_ = c[3*ldc+15]
	_ = a[(k-1)*astride+3]
	_ = b[k*16-1]
	sgemmKernel4x16(k, &a[0], &b[0], &c[0], ldc, beta, astride)
}

func kernelAVX512x4(k int, a []float32, astride int, b, c []float32, ldc int, beta float32) {
	_ = c[3*ldc+31]
	_ = a[(k-1)*astride+3]
	_ = b[k*32-1]
	sgemmKernel4x32(k, &a[0], &b[0], &c[0], ldc, beta, astride)
}

var (
	geomAVX2   = geom{"avx2", 6, 16, kernelAVX2, kernelAVX2x4, kernelAVX2Pack, nil}
	geomAVX512 = geom{"avx512", 12, 32, kernelAVX512, kernelAVX512x4, kernelAVX512Pack, kernelAVX512A}
)

// pickGeom returns the fastest micro-kernel this CPU runs.
func pickGeom() *geom {
	switch {
	case useAVX512:
		return &geomAVX512
	case useAVX2FMA:
		return &geomAVX2
	}
	return &geomGeneric
}

// packT transposes w >= 4 stored rows of src (row stride ld) into panel
// rows of width w, as packing needs for a transposed B or an untransposed
// A: panel[p*w+j] = src[j*ld+p] for j < w and p below the returned depth,
// a multiple of 8; the caller packs the rest. Rows go 8 at a time; 4 left
// over (the 12-row A panels) take the 4-row transpose, any other remainder
// a last group that overlaps the previous one, rewriting equal values (6
// rows, the AVX2 kernel's A panels, as rows 0-3 and 2-5). For 12 rows an
// overlapping 8 spent a third of the shuffles twice; for 6 the scalar
// loop ran at a fraction of the assembly's rate.
func packT(panel, src []float32, ld, k, w int) int {
	k8 := k &^ 7
	if !useAVX2FMA || k8 == 0 || w < 4 {
		return 0
	}
	_ = src[(w-1)*ld+k8-1]
	_ = panel[k8*w-1]
	j := 0
	for ; j+8 <= w; j += 8 {
		packBT8(&panel[j], &src[j*ld], ld, k8, w)
	}
	switch r := w - j; {
	case r == 0:
	case r <= 4 && j > 0, r == 4:
		packBT4(&panel[w-4], &src[(w-4)*ld], ld, k8, w)
	case w >= 8:
		packBT8(&panel[w-8], &src[(w-8)*ld], ld, k8, w)
	default: // 5-7 rows
		packBT4(&panel[0], &src[0], ld, k8, w)
		packBT4(&panel[w-4], &src[(w-4)*ld], ld, k8, w)
	}
	return k8
}

// packBRow32 copies n runs of 32 floats from one row of B into consecutive
// B panels, prefetching the next row (next floats on):
//
//	for i := 0; i < n; i++ {
//		copy(dst[i*step:i*step+32], src[i*32:i*32+32])
//	}
//
//go:noescape
func packBRow32(dst, src *float32, n, step, next int)

// packRow copies the full 32-wide panels of one row of an untransposed B
// (row holds them back to back, dst is the first panel's row p) and
// returns how many it did; step is the panel stride and next the distance
// to the following row of B.
func packRow(dst, row []float32, panels, nr, step, next int) int {
	if !useAVX2FMA || nr != 32 || panels == 0 {
		return 0
	}
	_ = row[panels*32-1]
	_ = dst[(panels-1)*step+31]
	packBRow32(&dst[0], &row[0], panels, step, next)
	return panels
}

// packARow12 copies n runs of 12 floats from src into consecutive A
// panels step floats apart:
//
//	for i := 0; i < n; i++ {
//		copy(dst[i*step:i*step+12], src[i*12:i*12+12])
//	}
//
//go:noescape
func packARow12(dst, src *float32, n, step int)

// packRowA deals the first n full 12-float runs of row (a stored row of a
// transposed A) to n panels step apart starting at dst and returns how many
// it did (0 without assembly or for other panel heights).
func packRowA(dst, row []float32, n, mr, step int) int {
	if !useAVX2FMA || mr != 12 || n == 0 {
		return 0
	}
	_ = row[n*12-1]
	_ = dst[(n-1)*step+11]
	packARow12(&dst[0], &row[0], n, step)
	return n
}
