package kernels

// DotN sets t[j] = Dot(x, m[j*len(x):(j+1)*len(x)]) for j < len(t), with
// the bits of those Dot calls, three rows of m a pass sharing the loads
// of x: a LoRA rank-r product's row (t = x·Aᵀ) in one call.
func DotN(t, x, m []float32) {
	w := len(x)
	if len(m) < len(t)*w {
		panic(badLen)
	}
	if w == 0 {
		clear(t)
		return
	}
	j := 0
	var s3 [3]float32
	for ; j+3 <= len(t); j += 3 {
		dot3(m[j*w:(j+1)*w], m[(j+1)*w:(j+2)*w], m[(j+2)*w:(j+3)*w], x, &s3)
		t[j], t[j+1], t[j+2] = s3[0], s3[1], s3[2]
	}
	for ; j < len(t); j++ {
		t[j] = dot(x, m[j*w:(j+1)*w])
	}
}

// AxpyN adds p[j]·v[j*ldv : j*ldv+len(y)] to y for each j < len(p) in
// turn, with the bits of those Axpy calls, each slice of y staying in
// registers across every j: a LoRA rank-r update of a row (y += t·Bᵀ).
func AxpyN(y, p, v []float32, ldv int) {
	if len(p) == 0 || len(y) == 0 {
		return
	}
	if ldv < len(y) || len(v) < (len(p)-1)*ldv+len(y) {
		panic("kernels: AxpyN: v too short for len(p) rows of len(y) at stride ldv")
	}
	axpySeq(y, p, v, ldv)
}
