package nn

import (
	"fmt"
	"sync"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// A frozen base weight may be kept quantized (W.DType Q8_0 or Q4_K, W.Quant
// holding GGUF blocks along each row; QLoRA-style): 8.5 or 4.5 bits per
// weight. Linear's two products then decode a panel of rows to float32 and
// run kernels.Sgemm on it, so memory holds the quantized bytes plus one
// panel per thread and the products are those of the dequantized weights
// in float32, exactly as far as the gradient is concerned (LoRA training's
// x·W0ᵀ and dy·W0). Generation steps use ForwardQuantActs instead: int8
// activations and integer dot products (kernels.GemmQuant), llama.cpp's
// route, which reads each weight byte once and is several times faster for
// a few rows.

// quantPanel is the number of weight rows decoded at a time: large enough
// for Sgemm to run near its speed, small enough to stay in cache.
const quantPanel = 64

// QuantizeWeight returns w [out, in] (float32 or 16-bit) encoded as dt
// (tensor.Q8_0 or Q4_K); in must be a multiple of dt's block.
func QuantizeWeight(w *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	gt, ok := gguf.TypeOf(dt)
	if !ok || len(w.Shape) != 2 {
		return nil, fmt.Errorf("nn: cannot quantize a weight of shape %v to %v", w.Shape, dt)
	}
	out, in := w.Shape[0], w.Shape[1]
	if in%dt.BlockSize() != 0 {
		return nil, fmt.Errorf("nn: quantize [%d, %d] as %v: rows of %d are not a multiple of its block of %d", out, in, dt, in, dt.BlockSize())
	}
	rb := dt.RowBytes(in)
	q := make([]byte, out*rb)
	var err error
	kernels.For(out, max(1, 1<<16/in), func(lo, hi int) {
		row := make([]float32, in)
		for o := lo; o < hi; o++ {
			w.CopyRow(row, o)
			if e := gguf.QuantizeInto(q[o*rb:(o+1)*rb], row, gt); e != nil {
				err = e // the same for every row: any one will do
				return
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("nn: quantize [%d, %d] as %v: %w", out, in, dt, err)
	}
	return tensor.NewQuant(dt, q, out, in), nil
}

// quantPanels calls f for each panel of rows [o0, o0+rows) of the
// quantized w decoded into float32 (kernels.Dequant) (the rows decoded in parallel; f's Sgemm
// uses the threads itself, and the dy·W panels all add into one dx).
func quantPanels(w *tensor.Tensor, f func(o0, rows int, buf []float32)) {
	out, in := w.Shape[0], w.Shape[1]
	buf := make([]float32, min(quantPanel, out)*in)
	for o0 := 0; o0 < out; o0 += quantPanel {
		rows := min(quantPanel, out-o0)
		kernels.For(rows, max(1, 1<<14/in), func(lo, hi int) {
			kernels.Dequant(w.DType, buf[lo*in:hi*in], w.QuantRows(o0+lo, o0+hi))
		})
		f(o0, rows, buf[:rows*in])
	}
}

// quantMulWT writes y [n, out] = x [n, in]·Wᵀ for a quantized W.
func (l *Linear) quantMulWT(x, y []float32, n int) {
	in, out := l.In(), l.Out()
	quantPanels(l.W, func(o0, rows int, w []float32) {
		kernels.Sgemm(false, true, n, rows, in, 1, x, in, w, in, 0, y[o0:], out)
	})
}

// quantAddMulW accumulates dx [n, in] += dy [n, out]·W for a quantized W.
func (l *Linear) quantAddMulW(dy, dx []float32, n int) {
	in, out := l.In(), l.Out()
	quantPanels(l.W, func(o0, rows int, w []float32) {
		kernels.Sgemm(false, false, n, in, rows, 1, dy[o0:], out, w, in, 1, dx, in)
	})
}

// ForwardQuantActs is Forward for a quantized W computed from int8
// activations (kernels.GemmQuant): the generation path. a is scratch the
// caller keeps between calls.
func (l *Linear) ForwardQuantActs(a *kernels.QActs, x, y []float32, n int) {
	a.QuantizeActs(l.W.DType, x, n, l.In())
	if p := l.PackForDecode(); p != nil {
		kernels.GemmQ4KPacked(a, p, y, l.Out())
	} else {
		kernels.GemmQuant(a, l.W.Quant, l.Out(), y, l.Out())
	}
	l.AddDeltaBias(x, y, n)
}

// packMu serializes the packing of weights for decode (PackForDecode
// replaces W's blocks by their tiles).
var packMu sync.Mutex

// PackForDecode returns W packed for ForwardQuantActs when W is Q4_K and
// the CPU has a kernel for the packed tiles (kernels.PackQ4KPays), nil
// otherwise. The first call packs W's blocks and drops them: W.Tiles then
// holds the weight and W.Quant is nil, so generation holds one copy of it
// (2.8% larger than the blocks), as llama.cpp does. The rarer readers of
// the blocks (training's and evaluation's panels, the embedding lookup,
// the savers) unpack the rows they need from the tiles, exactly
// (tensor.QuantRows): a smaller change than restoring the blocks on
// demand, and no reader holds more than a panel, a row or (the savers) one
// tensor's blocks again. The blocks are always heap memory (the loaders
// copy a file's blocks, llama's q/k rows reordered, and release its mapped
// pages), so dropping them frees them. A W whose blocks are set again (a
// merge or reload) is packed anew on the next call. Packing writes W, so
// callers pack before steps run: model.NewCache does, training never does.
func (l *Linear) PackForDecode() *kernels.Q4KPacked {
	w := l.W
	if w.DType != tensor.Q4_K {
		return nil
	}
	if w.Quant == nil { // packed already (or empty)
		p, _ := w.Tiles.(*kernels.Q4KPacked)
		return p
	}
	if !kernels.PackQ4KPays() {
		return nil
	}
	packMu.Lock()
	defer packMu.Unlock()
	if w.Quant != nil { // not packed by another caller meanwhile
		w.Tiles, w.Quant = kernels.PackQ4K(w.Quant, l.Out(), l.In()), nil
	}
	p, _ := w.Tiles.(*kernels.Q4KPacked)
	return p
}
