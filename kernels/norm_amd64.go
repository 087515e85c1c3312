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

// sumSqDevAVX returns Σ (x-m)² over i < n; n is a multiple of 8.
//
//go:noescape
func sumSqDevAVX(x *float32, n int, m float32) float32

// normApplyAVX sets o = (x-m)·s·w + b (b nil: + 0) over i < n; n is a
// multiple of 8.
//
//go:noescape
func normApplyAVX(o, x, w, b *float32, n int, m, s float32)

func sumSqDev(x []float32, m float32) float32 {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		return sumSqDevGeneric(x, m)
	}
	return sumSqDevAVX(&x[0], n, m) + sumSqDevGeneric(x[n:], m)
}

func normApply(o, x, w, b []float32, m, s float32) {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		normApplyGeneric(o, x, w, b, m, s)
		return
	}
	var pb *float32
	var bt []float32
	if b != nil {
		pb, bt = &b[0], b[n:]
	}
	normApplyAVX(&o[0], &x[0], &w[0], pb, n, m, s)
	normApplyGeneric(o[n:], x[n:], w[n:], bt, m, s)
}
