package model

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// A base may keep its matrices quantized (--base-dtype q8_0|q4_k, QLoRA
// style): every 2-D weight whose rows fit the dtype's block — the linears,
// the token embedding (looked up a row at a time) and the head — holds GGUF
// blocks (tensor.Quant). A Q4_K row must be a multiple of 256 values; a row
// that is not but is a multiple of 32 becomes Q8_0 (as llama.cpp falls back
// for such tensors), and one that is neither stays float32. Norms, biases,
// GPT-2's position table, LoRA parameters, gradients, optimiser state,
// activations and the KV cache stay float32; quantized weights are frozen
// like 16-bit ones (tensor.IsHalf is true for them).

// Decode steps (Step with up to quantActRows rows) multiply quantized
// weights by int8 activations (nn.Linear.ForwardQuantActs), reading each
// weight byte once; larger steps (prefill) and Forward (training,
// evaluation) multiply by dequantized panels through the float32 GEMM,
// faster once the decoding is shared by enough rows, so the loss and its
// gradient are those of the dequantized weights in float32. Under
// SetRowExact (serving) every step takes the int8 route: each output is
// then one row's dot product with one weight row, whatever else the step
// holds, so a quantized base is row-exact as it is. Q4_K weights packed
// for decode (nn.Linear.PackForDecode) take the int8 route at every step
// size, prefill included, as llama.cpp does: its kernels were 4-5× faster
// than the dequantized panels' GEMM from 4 to 64 rows of a 2048×2048
// weight.

// quantActRows is the most rows a step may have to use the int8 kernels
// outside row-exact serving (measured on GPT-2 and Llama shapes: above
// it the dequantized panels and the GEMM are faster).
const quantActRows = 8

// quantActs reports whether a step's n rows multiply l by int8 activations.
func (m *Transformer) quantActs(l *nn.Linear, n int) bool {
	return m.stepping && l.W.IsQuant() && (n <= quantActRows || m.dec.exact.on || l.PackForDecode() != nil)
}

// packForDecode packs the Q4_K linears for the int8 decode kernels
// (nn.Linear.PackForDecode) before the first step that uses them. Each
// packing drops the weight's blocks, but the Go heap would only collect
// them once it had doubled (GOGC), so every packChunk bytes dropped it
// collects them and hands their pages back to the OS: the peak holds the
// model plus about one chunk, not two copies of it.
func (m *Transformer) packForDecode() {
	dropped := 0
	for i, nl := range m.linears {
		w := nl.Linear.W
		n := len(w.Quant)
		if nl.Linear.PackForDecode() != nil && w.Quant == nil {
			dropped += n
		}
		if dropped >= packChunk || dropped > 0 && i == len(m.linears)-1 {
			debug.FreeOSMemory()
			dropped = 0
		}
	}
}

// packChunk is how many bytes of dropped blocks packForDecode lets the heap
// hold before it frees them (1.2 B model: ~40 collections of a few ms,
// since the blocks hold no pointers; 64 MiB left GPT-2's peak 28% higher).
const packChunk = 16 << 20

// quantWeightSource is a weightSource for a base quantized on load:
// LoadWeights quantizes every quantizable weight to its QuantDType, keeping
// those the file already stores quantized (a GGUF file's Q8_0 and Q4_K
// tensors) as they are.
type quantWeightSource interface {
	weightSource
	// QuantDType is the dtype the named weight is quantized to (before the
	// row-length fallbacks of quantDTypeFor).
	QuantDType(name string) tensor.DType
	// Quantized returns the named weight as stored when the file holds it
	// as Q8_0 or Q4_K (in the model's [out, in] layout), or as a 16-bit
	// view of the file's bytes when it holds BF16 or F16 (in the file's
	// layout), so no float32 copy of a large matrix is made; nil otherwise.
	Quantized(name string) (*tensor.Tensor, error)
}

// quantDTypeFor is the dtype a [.., in] weight is quantized to when dt is
// asked for (see the fallbacks above); F32 when none fits.
func quantDTypeFor(dt tensor.DType, in int) tensor.DType {
	switch {
	case in%dt.BlockSize() == 0:
		return dt
	case in%tensor.Q8_0.BlockSize() == 0:
		return tensor.Q8_0
	}
	return tensor.F32
}

// setQuant makes s hold q (quantized, or float32 when no dtype fits).
func (s *slot) setQuant(q *tensor.Tensor) {
	s.w.Data, s.w.Half, s.w.Quant, s.w.Tiles, s.w.DType = q.Data, nil, q.Quant, q.Tiles, q.DType
}

// quantize converts s's weight to dt (or its fallback) in place.
func (s *slot) quantize(dt tensor.DType) error {
	qt := quantDTypeFor(dt, s.w.Shape[1])
	if qt == s.w.DType {
		return nil
	}
	if qt == tensor.F32 {
		s.setQuant(tensor.From(s.w.Float32(), s.w.Shape...))
		return nil
	}
	q, err := nn.QuantizeWeight(s.w, qt)
	if err != nil {
		return fmt.Errorf("model: %s: %w", s.name, err)
	}
	s.setQuant(q)
	return nil
}

// loadQuant fills slot s from src: as stored when the file holds it
// quantized, otherwise read as float32 (checked and transposed as
// LoadWeights does) and quantized. One weight at a time is float32.
func (m *Transformer) loadQuant(src quantWeightSource, s slot, fn string) error {
	q, err := src.Quantized(fn)
	if err != nil {
		return err
	}
	if q != nil && (q.IsQuant() || !s.conv1d) { // a transposed 16-bit view goes through float32
		if !tensor.SameShape(q.Shape, s.w.Shape) {
			return fmt.Errorf("tensor %s has shape %v, expected %v", fn, q.Shape, s.w.Shape)
		}
		if !q.IsQuant() {
			if i := firstNonFiniteHalf(q.Half, q.DType); i >= 0 {
				return fmt.Errorf("tensor %s holds %v at index %d (NaN/Inf weights are refused)", fn, q.DType.Widen(q.Half[i]), i)
			}
			tmp := slot{name: fn, w: q}
			if err := tmp.quantize(src.QuantDType(fn)); err != nil {
				return err
			}
		}
		s.setQuant(q)
		return nil
	}
	t, err := src.Tensor(fn)
	if err != nil {
		return err
	}
	want := s.w.Shape
	if s.conv1d {
		want = []int{want[1], want[0]}
	}
	if !tensor.SameShape(t.Shape, want) {
		return fmt.Errorf("tensor %s has shape %v, expected %v", fn, t.Shape, want)
	}
	if i := firstNonFinite(t.Data); i >= 0 {
		return fmt.Errorf("tensor %s holds %v at index %d (NaN/Inf weights are refused)", fn, t.Data[i], i)
	}
	w := t
	if s.conv1d {
		w = tensor.New(s.w.Shape...)
		transpose(w.Data, t.Data, want[0], want[1])
	}
	tmp := slot{name: fn, w: w}
	if err := tmp.quantize(src.QuantDType(fn)); err != nil {
		return err
	}
	s.setQuant(w)
	return nil
}

// initQuant fills a quantized weight as initRandom does a float32 one,
// one float32 matrix at a time (a large benchmark model never exists in
// float32).
func (s *slot) initQuant(rng *rand.Rand) {
	dt := s.w.DType
	w := tensor.New(s.w.Shape...)
	for i := range w.Data {
		w.Data[i] = float32(rng.NormFloat64() * 0.02)
	}
	tmp := slot{name: s.name, w: w}
	if err := tmp.quantize(dt); err != nil {
		panic(err) // quantDTypeFor chose a dtype that fits
	}
	s.setQuant(w)
}
