//go:build purego || !amd64

package kernels

// Without the AVX-512 tile kernel AttnGemm runs the blocked GEMM.
var attnAsm = false

func attnTile(k int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc, rows, w int, acc bool) {
	panic("kernels: attnTile without AVX-512")
}

func transposeFast(dst []float32, ldd int, src []float32, lds, n, k int) (n8, k8 int) { return 0, 0 }
