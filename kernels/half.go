package kernels

import "github.com/golora/golora/tensor"

// DotF16 returns Σ widen(w[i])·x[i] over len(x), w holding IEEE half
// floats: the inner product of decoding from F16 weight copies, which
// read half the bytes of float32 ones. len(w) must be at least len(x).
func DotF16(w []uint16, x []float32) float32 {
	w = w[:len(x)]
	return dotF16(w, x)
}

// GemvF16 writes y (n, out) = x (n, in) · wᵀ for w (out, in) in F16, split
// by output columns over the threads; each row of w is read once and used
// for all n rows of x while it is in L1.
func GemvF16(y []float32, w []uint16, x []float32, n, in, out int) {
	if len(w) < out*in || len(x) < n*in || len(y) < n*out {
		panic("kernels: GemvF16 slice too short")
	}
	For(out, max(1, 1<<15/max(in, 1)), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			wr := w[j*in : (j+1)*in]
			for i := 0; i < n; i++ {
				y[i*out+j] = dotF16(wr, x[i*in:(i+1)*in])
			}
		}
	})
}

// dotF16Generic is the portable dotF16.
func dotF16Generic(w []uint16, x []float32) float32 {
	w = w[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += tensor.F16ToF32(w[i]) * x[i]
		s1 += tensor.F16ToF32(w[i+1]) * x[i+1]
		s2 += tensor.F16ToF32(w[i+2]) * x[i+2]
		s3 += tensor.F16ToF32(w[i+3]) * x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += tensor.F16ToF32(w[i]) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}
