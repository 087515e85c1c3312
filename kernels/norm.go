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

// SumSqDev returns Σ (x[i]-m)², the squared deviation a LayerNorm takes
// about its mean (two passes without writing x-m anywhere: the variance
// about the mean does not cancel the way E[x²]-E[x]² does for rows with a
// large mean).
func SumSqDev(x []float32, m float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return sumSqDev(x, m)
}

// NormApply sets o = (x-m)·s·w + b, a norm's output row from its mean m
// (0 for RMSNorm) and inverse deviation s; a nil b adds nothing. o may
// alias x.
func NormApply(o, x, w, b []float32, m, s float32) {
	n := len(x)
	if len(o) != n || len(w) != n || b != nil && len(b) != n {
		panic(badLen)
	}
	if n > 0 {
		normApply(o, x, w, b, m, s)
	}
}

func sumSqDevGeneric(x []float32, m float32) float32 {
	var s float32
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return s
}

func normApplyGeneric(o, x, w, b []float32, m, s float32) {
	o, w = o[:len(x)], w[:len(x)]
	for j, v := range x {
		d := (v - m) * s * w[j]
		if b != nil {
			d += b[j]
		}
		o[j] = d
	}
}
