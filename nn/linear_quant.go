package nn

import (
	"fmt"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// QuantWeight is a frozen [out, in] weight kept in a GGUF block type (Q8_0,
// Q4_K, or any type gguf.Dequantize reads) instead of float32: 8.5 or 4.5
// bits per weight. Its two products are the ones a frozen base needs, named
// after nn.Linear's half-precision seam (mulWT, AddMulW) so a Linear can
// dispatch to them: y = x·Wᵀ for forward, decode and prefill, and
// dx += dy·W for the gradient that LoRA training sends through the base
// (QLoRA). Both decode a panel of rows to float32 and run kernels.Sgemm on
// it, so memory holds the quantized bytes plus one panel; this is the
// portable path (no int8 dot-product kernels yet).
type QuantWeight struct {
	Type    gguf.Type
	Out, In int
	Data    []byte // Out rows of Type.RowBytes(In) bytes
}

// quantPanel is the number of weight rows decoded at a time: large enough
// for Sgemm to run near its speed, small enough to stay in cache.
const quantPanel = 64

// QuantizeWeight encodes w [out, in] as typ; in must be a multiple of the
// type's block.
func QuantizeWeight(w *tensor.Tensor, typ gguf.Type) (*QuantWeight, error) {
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("nn: quantize: weight of shape %v is not 2-D", w.Shape)
	}
	b, err := gguf.Quantize(w.Data, typ)
	if err != nil {
		return nil, fmt.Errorf("nn: quantize [%d, %d] as %s: %w", w.Shape[0], w.Shape[1], typ, err)
	}
	return &QuantWeight{Type: typ, Out: w.Shape[0], In: w.Shape[1], Data: b}, nil
}

// panels calls f for each panel of rows [o0, o0+len) decoded into buf.
func (q *QuantWeight) panels(f func(o0, rows int, buf []float32)) {
	rb := q.Type.RowBytes(q.In)
	buf := make([]float32, quantPanel*q.In)
	for o0 := 0; o0 < q.Out; o0 += quantPanel {
		rows := min(quantPanel, q.Out-o0)
		if err := gguf.Dequantize(buf[:rows*q.In], q.Data[o0*rb:(o0+rows)*rb], q.Type); err != nil {
			panic(err) // sizes are fixed at construction
		}
		f(o0, rows, buf[:rows*q.In])
	}
}

// MulWT writes y [n, out] = x [n, in]·Wᵀ.
func (q *QuantWeight) MulWT(x, y []float32, n int) {
	q.panels(func(o0, rows int, w []float32) {
		kernels.Sgemm(false, true, n, rows, q.In, 1, x, q.In, w, q.In, 0, y[o0:], q.Out)
	})
}

// AddMulW accumulates dx [n, in] += dy [n, out]·W.
func (q *QuantWeight) AddMulW(dy, dx []float32, n int) {
	q.panels(func(o0, rows int, w []float32) {
		kernels.Sgemm(false, false, n, q.In, rows, 1, dy[o0:], q.Out, w, q.In, 1, dx, q.In)
	})
}

// Bytes is the size of the quantized data.
func (q *QuantWeight) Bytes() int { return len(q.Data) }
