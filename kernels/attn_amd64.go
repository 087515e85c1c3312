//go:build !purego

package kernels

// attnAsm selects the AVX-512 tile kernels below for AttnGemm.
var attnAsm = useAVX512

// attnKernel4x64 computes, for r < 4 and j < 64 where mask bit j is set,
//
//	s := sum_p a[r*ars+p*acs] * b[p*ldb+j]   (p < k, k >= 1)
//	c[r*ldc+j] = s, or c[r*ldc+j] += s when acc != 0
//
// storing only rows r < rows (rows 1-4; the others reread row 0 of a).
// mask has a bit per column: bits 16v..16v+15 are the lanes of zmm v, and
// B and C are read and written only where it is set; nv (1-4) is the
// number of zmm that have bits set.
//
//go:noescape
func attnKernel4x64(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, rows int, mask uint64, acc, nv int)

// attnKernel6x64 is attnKernel4x64 for 6 rows (all stored).
//
//go:noescape
func attnKernel6x64(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, mask uint64, acc int)

// attnTile runs the kernel for rows rows (6, or 1-4) and w <= 64 columns.
func attnTile(k int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc, rows, w int, acc bool) {
	ac := b2i(acc)
	mask := ^uint64(0)
	if w < 64 {
		mask = 1<<w - 1
	}
	if rows == 6 {
		attnKernel6x64(k, &a[0], ars, acs, &b[0], ldb, &c[0], ldc, mask, ac)
		return
	}
	attnKernel4x64(k, &a[0], ars, acs, &b[0], ldb, &c[0], ldc, rows, mask, ac, (w+15)/16)
}

// transposeFast transposes the first n&^7 stored rows' first k&^7 values
// (TransposeScaled without the scale) with the GEMM's packing transpose,
// returning how many rows and values it did.
func transposeFast(dst []float32, ldd int, src []float32, lds, n, k int) (n8, k8 int) {
	n8, k8 = n&^7, k&^7
	if !useAVX2FMA || n8 == 0 || k8 == 0 {
		return 0, 0
	}
	for j := 0; j < n8; j += 8 {
		packBT8(&dst[j], &src[j*lds], lds, k8, ldd)
	}
	return n8, k8
}
