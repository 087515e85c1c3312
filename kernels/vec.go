package kernels

// Vector primitives over []float32. Each exported function checks lengths,
// then dispatches to the assembly version when the CPU has it (vec_amd64.go)
// or to the pure-Go loop in vec_generic.go. Reductions accumulate in several
// independent partial sums, so results may differ from a left-to-right loop
// in the last bits; tests compare against float64 references.

const badLen = "kernels: slice lengths differ"

// DotRows sets out[t] = scale·Σ_i q[i]·k[t*ldk+i] for t < len(out): one
// query against len(out) keys of len(q) values stored ldk apart, as
// attention scores a query against a KV cache. Four keys go through the
// assembly at once, sharing the loads of q (one Dot call per key spent
// more in calls and reductions than in arithmetic at head size 64).
func DotRows(out []float32, scale float32, q, k []float32, ldk int) {
	n, d := len(out), len(q)
	if n == 0 {
		return
	}
	if ldk < d || len(k) < (n-1)*ldk+d {
		panic("kernels: DotRows: k too short for len(out) rows of len(q) at stride ldk")
	}
	dotRows(out, scale, q, k, ldk)
}

// AxpyRows adds Σ_t p[t]·v[t*ldv : t*ldv+len(out)] over t < len(p) to out:
// attention's probability-weighted sum of cached values, with out held in
// registers while the rows of v stream past.
func AxpyRows(out, p, v []float32, ldv int) {
	n, d := len(p), len(out)
	if n == 0 || d == 0 {
		return
	}
	if ldv < d || len(v) < (n-1)*ldv+d {
		panic("kernels: AxpyRows: v too short for len(p) rows of len(out) at stride ldv")
	}
	axpyRows(out, p, v, ldv)
}

// Dot returns sum_i x[i]*y[i]. len(x) must equal len(y).
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic(badLen)
	}
	if len(x) == 0 {
		return 0
	}
	return dot(x, y)
}

// Axpy computes y[i] += alpha*x[i]. len(x) must equal len(y).
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panic(badLen)
	}
	if len(x) == 0 || alpha == 0 {
		return
	}
	axpy(alpha, x, y)
}

// Scale computes x[i] *= alpha.
func Scale(alpha float32, x []float32) {
	if len(x) == 0 || alpha == 1 {
		return
	}
	scale(alpha, x)
}

// Add computes dst[i] += x[i]. len(dst) must equal len(x).
func Add(dst, x []float32) {
	if len(dst) != len(x) {
		panic(badLen)
	}
	if len(x) == 0 {
		return
	}
	add(dst, x)
}

// Mul computes dst[i] = x[i]*y[i]; all three lengths must be equal.
// dst may alias x or y.
func Mul(dst, x, y []float32) {
	if len(dst) != len(x) || len(x) != len(y) {
		panic(badLen)
	}
	if len(x) == 0 {
		return
	}
	mul(dst, x, y)
}

// Sum returns sum_i x[i] (0 for an empty slice).
func Sum(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return sum(x)
}

// SumSq returns sum_i x[i]*x[i] (0 for an empty slice), as used by RMSNorm
// and gradient-norm clipping.
func SumSq(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return sumSq(x)
}

// Max returns the largest element of x. It panics on an empty slice. NaN
// elements are ignored unless every element is NaN.
func Max(x []float32) float32 {
	if len(x) == 0 {
		panic("kernels: Max of empty slice")
	}
	return maxf(x)
}

// MaxAbs returns max_i |x[i]| (0 for an empty slice). NaN elements are ignored.
func MaxAbs(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return maxAbs(x)
}

// ExpSub computes dst[i] = exp(x[i] - m) and returns the sum of dst, the
// inner step of a numerically stable softmax or log-sum-exp when m = Max(x).
// Relative error is about 2e-7 per element; arguments x[i]-m below about
// -87.3 give 0 and those above 88.37 saturate at about 2.4e38 (softmax
// never gets there: its arguments are <= 0). dst may alias x.
func ExpSub(dst, x []float32, m float32) float32 {
	if len(dst) != len(x) {
		panic(badLen)
	}
	if len(x) == 0 {
		return 0
	}
	return expSub(dst, x, m)
}
