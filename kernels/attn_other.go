//go:build purego || !amd64

package kernels

// Without the AVX-512 tile kernel AttnGemm runs the blocked GEMM.
var attnAsm = false

// attnKC is the depth of a chunk of B (a variable for the benchmarks).
var attnKC = 64

// attnTileRows is the main tile's rows: 6 (6x64), or 4 (the 4x64 tile
// alone, for the tests). A 12x32 tile, the GEMM's shape, ran attention
// 8% slower than 6x64: twice the calls for the score tiles' 256 columns.
var attnTileRows = 6

func attnTile(k int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc, rows, w int, acc bool) {
	panic("kernels: attnTile without AVX-512")
}

func transposeFast(dst []float32, ldd int, src []float32, lds, n, k int) (n8, k8 int) { return 0, 0 }
