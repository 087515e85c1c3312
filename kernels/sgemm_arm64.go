//go:build !purego

package kernels

// useNEON selects the 8x12 NEON GEMM micro-kernel. Advanced SIMD is part
// of every AArch64 CPU Go runs on, so there is nothing to detect; tests
// turn it off to run the pure-Go path.
var useNEON = true

// useAVX512 is always false on arm64.
var useAVX512 = false

// sgemmKernel8x12 computes the 8x12 tile
//
//	C[i*ldc+j] = sum_p a[p*8+i]*b[p*12+j] + beta*C[i*ldc+j]
//
// (C not read when beta == 0) from a packed A panel (k×8) and a packed B
// panel (k×12).
//
//go:noescape
func sgemmKernel8x12(k int, a, b, c *float32, ldc int, beta float32)

func kernelNEON(k int, a, b, c []float32, ldc int, beta float32) {
	_ = c[7*ldc+11]
	_ = a[k*8-1]
	_ = b[k*12-1]
	sgemmKernel8x12(k, &a[0], &b[0], &c[0], ldc, beta)
}

var geomNEON = geom{"neon", 8, 12, kernelNEON, nil, nil, nil}

// pickGeom returns the NEON micro-kernel unless a test turned it off.
func pickGeom() *geom {
	if useNEON {
		return &geomNEON
	}
	return &geomGeneric
}

// The packing helpers are amd64 assembly; here the Go loops do all of it.
func packT(panel, src []float32, ld, k, w int) int               { return 0 }
func packRow(dst, row []float32, panels, nr, step, next int) int { return 0 }
func packRowA(dst, row []float32, n, mr, step int) int           { return 0 }
