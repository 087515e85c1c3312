//go:build !purego

package kernels

// normSumsAVX sets out to Σ w·dy and Σ w·dy·(x-m) over i < n; n is a
// multiple of 8.
//
//go:noescape
func normSumsAVX(x, dy, w *float32, n int, m float32, out *[2]float32)

// normGradAVX adds s·(w·dy - gm - (x-m)·k) to dx over i < n; n is a
// multiple of 8.
//
//go:noescape
func normGradAVX(dx, x, dy, w *float32, n int, m, gm, k, s float32)

func normSums(x, dy, w []float32, m float32) (sg, sgx float32) {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		return normSumsGeneric(x, dy, w, m)
	}
	var out [2]float32
	normSumsAVX(&x[0], &dy[0], &w[0], n, m, &out)
	tg, tgx := normSumsGeneric(x[n:], dy[n:], w[n:], m)
	return out[0] + tg, out[1] + tgx
}

func normGrad(dx, x, dy, w []float32, m, gm, k, s float32) {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		normGradGeneric(dx, x, dy, w, m, gm, k, s)
		return
	}
	normGradAVX(&dx[0], &x[0], &dy[0], &w[0], n, m, gm, k, s)
	normGradGeneric(dx[n:], x[n:], dy[n:], w[n:], m, gm, k, s)
}
