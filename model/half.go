package model

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Decoding one token reads every weight once, so its speed is the memory
// bandwidth divided by the bytes of the weights. SetDecodeF16 keeps an IEEE
// half copy of the linears for those steps: half the bytes, so about twice
// the tokens/s, at F16's precision (11 significant bits; llama.cpp's F16).
// Prefill and training are bound by arithmetic, not bytes, and keep using
// the float32 weights through the GEMM.

// halfMaxRows is the most rows a step may have to use the F16 copies; above
// it the GEMM on float32 weights is faster (mirrors kernels' gemv cut-off).
const halfMaxRows = 4

// SetDecodeF16 turns on (or off) decoding from F16 copies of every linear
// weight (blocks and head) taken now. Steps of up to 4 rows then use them;
// everything else uses the float32 weights. The copies are not refreshed:
// call it again after changing the weights (training, merging), or turn it
// off. It costs 2 bytes per weight of extra memory.
func (m *Transformer) SetDecodeF16(on bool) {
	m.half = nil
	if !on {
		return
	}
	m.half = make(map[*nn.Linear][]uint16, len(m.linears))
	for _, nl := range m.linears {
		if nl.Linear.W.IsHalf() {
			continue // already 16-bit: its own kernels serve decoding
		}
		w := nl.Linear.W.Data
		h := make([]uint16, len(w))
		kernels.For(len(w), 1<<16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				h[i] = tensor.F32ToF16(w[i])
			}
		})
		m.half[nl.Linear] = h
	}
}

// SetPrepacked turns on (or off) keeping every frozen float32 linear
// weight (blocks and head) packed in the GEMM's panel layout, taken now
// (nn.Linear.Packed, kernels.PackBT): prefill and other products of more
// than 4 rows then skip transposing each weight on every call (a fifth of
// a GPT-2 prefill), with the same bits. It costs one more copy of those
// weights; decoding still reads W. As SetDecodeF16, call it again after
// changing the weights. It returns the bytes the panels hold.
func (m *Transformer) SetPrepacked(on bool) int64 {
	var bytes int64
	for _, nl := range m.linears {
		l := nl.Linear
		l.Packed = nil
		if on && !l.W.IsHalf() && l.DW == nil {
			l.Packed = kernels.PackBT(l.Out(), l.In(), l.W.Data, l.In())
			bytes += 4 * int64(l.Packed.Floats())
		}
	}
	return bytes
}

// DecodeF16 reports whether SetDecodeF16 is on.
func (m *Transformer) DecodeF16() bool { return m.half != nil }

// linear is l.Forward, from the F16 copy of W when there is one and the
// step is small; AddDeltaBias finishes it as nn.Linear.Forward does.
func (m *Transformer) linear(l *nn.Linear, x, y []float32, n int) { m.linearThen(l, x, y, n, nil) }

// special reports whether linear(l, ..., n) takes a path of its own (a
// step's quantized activations, row-exact rows, F16 copies, decode's
// in-region epilogue) rather than l.Forward.
func (m *Transformer) special(l *nn.Linear, n int) bool {
	return m.quantActs(l, n) ||
		m.stepping && (m.dec.exact.on || m.half[l] != nil && n <= halfMaxRows || m.decodeRows(n))
}

// linearThen is linear followed by then(lo, hi) (nil: nothing) on the
// output columns [lo, hi) of its n rows (nn.Linear.ForwardThen): in a
// decode step's float32 products, inside their parallel region.
func (m *Transformer) linearThen(l *nn.Linear, x, y []float32, n int, then func(lo, hi int)) {
	// The cases are special's, in its order.
	switch {
	case m.quantActs(l, n): // see quant.go
		l.ForwardQuantActs(&m.qacts, x, y, n)
	case m.dec.exact.on && m.stepping:
		m.linearRows(l, x, y, n)
	case m.half[l] != nil && n <= halfMaxRows && m.stepping:
		kernels.GemvF16(y, m.half[l], x, n, l.In(), l.Out())
		l.AddDeltaBias(x, y, n)
	case m.decodeRows(n):
		l.ForwardThen(x, y, n, then)
		return
	default:
		l.Forward(x, y, n)
	}
	if then != nil {
		then(0, l.Out())
	}
}
