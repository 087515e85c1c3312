//go:build purego || !amd64

package kernels

// Without the AVX-512 tile kernel AttnGemm runs the blocked GEMM.
var attnAsm = false

// attnKC is the depth of a chunk of B (a variable for the benchmarks).
var attnKC = 64

// attnMR12 selects the 12x32 tile for whole groups of 12 rows (a variable
// for the tests, which also run the 4x64 tile alone).
var attnMR12 = true

func attnTile(k int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc, rows, w int, acc bool) {
	panic("kernels: attnTile without AVX-512")
}

func transposeFast(dst []float32, ldd int, src []float32, lds, n, k int) (n8, k8 int) { return 0, 0 }
