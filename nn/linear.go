// Package nn holds the layers of a transformer as forward/backward pairs over
// explicit buffers, in llm.c's style. Shapes use one legend throughout:
// B batch, T sequence length, C channels, V vocabulary, NH query heads,
// NKV key/value heads, D head size, N = B*T rows.
//
// Backward functions accumulate (+=) into gradient buffers, so a caller zeroes
// them once per step; a nil gradient buffer means "not needed" (frozen).
package nn

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// Delta is a trainable change to a frozen linear layer: LoRA, DoRA, or a set
// of adapters routed per row. It is the only hook model code offers, so
// model families never import the lora package.
type Delta interface {
	// Forward is called with y [n, out] holding W0·x (no bias yet) for
	// x [n, in]; the delta adds to or rescales y in place.
	Forward(x, y []float32, n int)
	// Backward accumulates the delta's own parameter gradients and its part
	// of dx [n, in] (dx == nil: not needed), and returns the gradient that
	// flows through the frozen W0·x path: dy itself for additive deltas.
	Backward(x, dy, dx []float32, n int) []float32
}

// Linear is y = x·Wᵀ + b with W stored [out, in] (nn.Linear's layout; GPT-2
// Conv1D weights are transposed on load and back on save). A frozen W may
// hold BF16 or F16 values (W.Half, see linear_half.go); everything else
// stays float32.
type Linear struct {
	W  *tensor.Tensor // (out, in)
	B  *tensor.Tensor // (out) or nil
	DW *tensor.Tensor // gradient of W, nil when W is frozen
	DB *tensor.Tensor // gradient of B, nil when frozen or no bias

	Delta Delta // nil: plain linear

	// Packed, when set, is a frozen float32 W packed once for the GEMM
	// (kernels.PackBT): forward products of many rows read it instead of
	// transposing W each call. Whoever sets it refreshes or clears it
	// when W changes.
	Packed *kernels.PackedB
}

// In is the input width.
func (l *Linear) In() int { return l.W.Shape[1] }

// Out is the output width.
func (l *Linear) Out() int { return l.W.Shape[0] }

// Forward computes y [n, out] from x [n, in].
func (l *Linear) Forward(x, y []float32, n int) {
	l.mulWT(x, y, n)
	l.AddDeltaBias(x, y, n)
}

// ForwardUnbiased is Forward without the bias, for a caller that adds it
// in its next elementwise pass (BiasGeluForward).
func (l *Linear) ForwardUnbiased(x, y []float32, n int) {
	l.mulWT(x, y, n)
	if l.Delta != nil {
		l.Delta.Forward(x, y, n)
	}
}

// ForwardThen is Forward followed by then(lo, hi) (nil: nothing) on the
// output columns [lo, hi) of the n rows of y, ranges that cover [0, out)
// once each. For a float32 W without a Delta the bias and then run inside
// the product's parallel region, each goroutine on the columns it computed
// (kernels.SgemmThen): a decode step's bias and activation cost no serial
// pass while the other threads wait. then must be safe to run concurrently
// on disjoint ranges.
func (l *Linear) ForwardThen(x, y []float32, n int, then func(lo, hi int)) {
	in, out := l.In(), l.Out()
	if l.Delta != nil || l.W.IsHalf() || l.W.IsQuant() {
		l.Forward(x, y, n)
		if then != nil {
			then(0, out)
		}
		return
	}
	kernels.SgemmThen(false, true, n, out, in, 1, x, in, l.W.Data, in, 0, y, out, func(lo, hi int) {
		if l.B != nil {
			for i := range n {
				kernels.Add(y[i*out+lo:i*out+hi], l.B.Data[lo:hi])
			}
		}
		if then != nil {
			then(lo, hi)
		}
	})
}

// AddDeltaBias finishes a forward whose y already holds x·W0ᵀ: it applies
// the Delta, then adds the bias. Callers that compute x·W0ᵀ their own way
// (row-exact serving, F16 decode copies) use it so the rest stays Forward's.
func (l *Linear) AddDeltaBias(x, y []float32, n int) {
	if l.Delta != nil {
		l.Delta.Forward(x, y, n)
	}
	if l.B != nil {
		AddBias(y, l.B.Data, n)
	}
}

// AddBias adds b to each of the n rows of y (n, len(b)), in parallel over
// rows: GPT-2's biases touch every output of every linear, and a serial
// pass left the other threads idle for ~3 ms a block.
func AddBias(y, b []float32, n int) {
	C := len(b)
	checkLen("AddBias: y", y, n*C)
	if n*C < 2*actGrain { // decode's rows: no closure to build
		for i := range n {
			kernels.Add(y[i*C:(i+1)*C], b)
		}
		return
	}
	kernels.For(n, max(1, actGrain/max(C, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.Add(y[i*C:(i+1)*C], b)
		}
	})
}

// NeedsInput reports whether Backward reads x: only W's gradient and the
// Delta do, so a caller may skip recomputing the input of a frozen linear
// without a delta (and pass any buffer of the right length).
func (l *Linear) NeedsInput() bool { return l.DW != nil || l.Delta != nil }

// Backward accumulates dx [n, in] (nil: skip), DW and DB from dy [n, out].
func (l *Linear) Backward(x, dy, dx []float32, n int) { l.backward(x, dy, dx, n, 1) }

// BackwardSet is Backward with dx set rather than accumulated (DW and DB
// still accumulate), for a caller whose dx holds nothing yet: the product
// writes dx (beta 0) instead of adding to cleared memory. A delta adds its
// share to dx, and a quantized W adds panel by panel, so there dx is
// cleared first.
func (l *Linear) BackwardSet(x, dy, dx []float32, n int) {
	if dx != nil && (l.Delta != nil || l.W.IsQuant()) {
		clear(dx[:n*l.In()])
		l.backward(x, dy, dx, n, 1)
		return
	}
	l.backward(x, dy, dx, n, 0)
}

// backward is Backward with dx = dy·W + beta·dx.
func (l *Linear) backward(x, dy, dx []float32, n int, beta float32) {
	in, out := l.In(), l.Out()
	if l.DB != nil {
		db := l.DB.Data
		for i := 0; i < n; i++ {
			row := dy[i*out : (i+1)*out]
			for j := range row {
				db[j] += row[j]
			}
		}
	}
	dyBase := dy
	if l.Delta != nil {
		dyBase = l.Delta.Backward(x, dy, dx, n)
	}
	if l.DW != nil {
		// DW (out, in) += dyᵀ·x
		kernels.Sgemm(true, false, out, in, n, 1, dyBase, out, x, in, 1, l.DW.Data, in)
	}
	if dx != nil {
		l.mulW(dyBase, dx, n, beta)
	}
}
