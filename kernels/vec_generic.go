package kernels

import "math"

// Pure-Go vector loops: the reference for the assembly versions and the
// fallback on CPUs without AVX2+FMA. Four partial sums break the dependency
// chain so the loops run near one element per cycle.

func dotRowsGeneric(out []float32, scale float32, q, k []float32, ldk int) {
	d := len(q)
	for t := range out {
		out[t] = scale * dotGeneric(q, k[t*ldk:t*ldk+d])
	}
}

func axpyRowsGeneric(out, p, v []float32, ldv int) {
	d := len(out)
	for t, pt := range p {
		axpyGeneric(pt, v[t*ldv:t*ldv+d], out)
	}
}

func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func scaleGeneric(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

func addGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] += v
	}
}

func mulGeneric(dst, x, y []float32) {
	dst = dst[:len(x)]
	y = y[:len(x)]
	for i, v := range x {
		dst[i] = v * y[i]
	}
}

func sumGeneric(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func sumSqGeneric(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * x[i]
		s1 += x[i+1] * x[i+1]
		s2 += x[i+2] * x[i+2]
		s3 += x[i+3] * x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func maxGeneric(x []float32) float32 {
	m := float32(math.NaN())
	for _, v := range x {
		// !(v <= m) is true when m is NaN, so the first non-NaN replaces it.
		if v > m || m != m {
			m = v
		}
	}
	return m
}

func maxAbsGeneric(x []float32) float32 {
	var m float32
	for _, v := range x {
		if v < 0 {
			v = -v
		}
		if v > m {
			m = v
		}
	}
	return m
}

// Constants of the exp approximation shared with the assembly: exp(t) =
// 2^n * exp(r) with n = round(t*log2(e)) and r = t - n*ln2 (ln2 split in a
// high and low part for exactness), exp(r) by a degree-6 polynomial on
// |r| <= ln2/2 (Cephes expf coefficients).
const (
	expHi   = 88.3762626647949
	expLo   = -87.3365447504019 // below this exp underflows the normal range
	log2e   = 1.44269504088896341
	ln2Hi   = 0.693359375
	ln2Lo   = -2.12194440e-4
	expP0   = 1.9875691500e-4
	expP1   = 1.3981999507e-3
	expP2   = 8.3334519073e-3
	expP3   = 4.1665795894e-2
	expP4   = 1.6666665459e-1
	expP5   = 5.0000001201e-1
	expBias = 127
)

// exp32 is the scalar form of the vectorised exp: the same steps, in the
// same order, so the generic and assembly ExpSub agree closely.
func exp32(t float32) float32 {
	if t != t {
		return t
	}
	if t < expLo {
		return 0
	}
	t = min(t, expHi)
	n := float32(math.Floor(float64(t*log2e + 0.5)))
	r := t - n*ln2Hi
	r -= n * ln2Lo
	p := float32(expP0)
	p = p*r + expP1
	p = p*r + expP2
	p = p*r + expP3
	p = p*r + expP4
	p = p*r + expP5
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(n)+expBias)<<23)
}

func expSubGeneric(dst, x []float32, m float32) float32 {
	dst = dst[:len(x)]
	var s float32
	for i, v := range x {
		e := exp32(v - m)
		dst[i] = e
		s += e
	}
	return s
}

var negInf = float32(math.Inf(-1))

func float32frombits(b uint32) float32 { return math.Float32frombits(b) }
