package kernels

// NormGrad adds to dx the gradient through one row of a LayerNorm
// (center) or an RMSNorm (!center, m = 0) from its output gradient dy,
// given the row's mean m and inverse deviation s the forward kept:
//
//	g = w·dy, x̂ = (x-m)·s
//	dx += s·(g - mean(g) - x̂·mean(g·x̂))    LayerNorm
//	dx += s·(g - x̂·mean(g·x̂))             RMSNorm
//
// Both means come from one pass over the row (Σg and Σg·(x-m)), the
// update from a second. All four slices have the same length.
func NormGrad(dx, x, dy, w []float32, m, s float32, center bool) {
	n := len(x)
	if len(dx) != n || len(dy) != n || len(w) != n {
		panic(badLen)
	}
	if n == 0 {
		return
	}
	sg, sgx := normSums(x, dy, w, m)
	var gm float32
	if center {
		gm = sg / float32(n)
	}
	normGrad(dx, x, dy, w, m, gm, s*s*sgx/float32(n), s)
}

// normSumsGeneric returns Σ w·dy and Σ w·dy·(x-m).
func normSumsGeneric(x, dy, w []float32, m float32) (sg, sgx float32) {
	dy, w = dy[:len(x)], w[:len(x)]
	for j, xv := range x {
		g := w[j] * dy[j]
		sg += g
		sgx += g * (xv - m)
	}
	return sg, sgx
}

// normGradGeneric adds s·(w·dy - gm - (x-m)·k) to dx.
func normGradGeneric(dx, x, dy, w []float32, m, gm, k, s float32) {
	dx, dy, w = dx[:len(x)], dy[:len(x)], w[:len(x)]
	for j, xv := range x {
		dx[j] += (w[j]*dy[j] - gm - (xv-m)*k) * s
	}
}
