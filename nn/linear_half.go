package nn

import (
	"github.com/golora/golora/kernels"
)

// A frozen base weight may stay in its checkpoint's 16-bit dtype (W.Half,
// W.DType BF16 or F16; W.Data nil): the products below then run on
// kernels.GemmHalf, which accumulates in float32 and, for BF16, rounds the
// activations to bf16 first, as PyTorch's CPU autocast does. A half W has
// no gradient (DW must be nil): it cannot be updated in place.

// mulWT writes y [n, out] = x [n, in]·Wᵀ.
func (l *Linear) mulWT(x, y []float32, n int) {
	in, out := l.In(), l.Out()
	if l.W.IsQuant() {
		l.quantMulWT(x, y, n)
		return
	}
	if l.W.IsHalf() {
		kernels.GemmHalf(l.W.DType, true, n, out, in, x, in, l.W.Half, in, 0, y, out)
		return
	}
	if l.Packed != nil && l.DW == nil {
		kernels.SgemmPackedBT(n, out, in, x, in, l.W.Data, in, l.Packed, y, out)
		return
	}
	kernels.Sgemm(false, true, n, out, in, 1, x, in, l.W.Data, in, 0, y, out)
}

// AddMulW accumulates dx [n, in] += dy [n, out]·W: the gradient through
// the frozen product, for deltas that need it too.
func (l *Linear) AddMulW(dy, dx []float32, n int) { l.mulW(dy, dx, n, 1) }

// mulW sets dx = dy·W + beta·dx (beta 0 or 1; a quantized W only adds).
func (l *Linear) mulW(dy, dx []float32, n int, beta float32) {
	in, out := l.In(), l.Out()
	if l.W.IsQuant() {
		l.quantAddMulW(dy, dx, n)
		return
	}
	if l.W.IsHalf() {
		kernels.GemmHalf(l.W.DType, false, n, in, out, dy, out, l.W.Half, in, beta, dx, in)
		return
	}
	kernels.Sgemm(false, false, n, in, out, 1, dy, out, l.W.Data, in, beta, dx, in)
}
