package nn

import "github.com/golora/golora/kernels"

// SoftmaxForward computes out = softmax(inp) along each of rows rows of
// cols values, subtracting the row maximum first so no exponent overflows.
// out may alias inp.
func SoftmaxForward(out, inp []float32, rows, cols int) {
	checkLen("SoftmaxForward: inp", inp, rows*cols)
	checkLen("SoftmaxForward: out", out, rows*cols)
	if cols == 0 {
		return
	}
	kernels.For(rows, max(1, 16384/cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := inp[i*cols : (i+1)*cols]
			o := out[i*cols : (i+1)*cols]
			s := kernels.ExpSub(o, x, kernels.Max(x))
			kernels.Scale(1/s, o)
		}
	})
}

// SoftmaxBackward accumulates dinp += out ⊙ (dout - Σ out⊙dout) row by row,
// given the probabilities out that SoftmaxForward returned.
func SoftmaxBackward(dinp, dout, out []float32, rows, cols int) {
	checkLen("SoftmaxBackward: dinp", dinp, rows*cols)
	checkLen("SoftmaxBackward: dout", dout, rows*cols)
	checkLen("SoftmaxBackward: out", out, rows*cols)
	for i := 0; i < rows; i++ {
		p := out[i*cols : (i+1)*cols]
		dy := dout[i*cols : (i+1)*cols]
		dx := dinp[i*cols : (i+1)*cols]
		s := kernels.Dot(p, dy)
		for j := range dx {
			dx[j] += p[j] * (dy[j] - s)
		}
	}
}
