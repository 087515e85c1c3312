package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// A model's base may keep its matrices (linear weights and the token
// embedding) in BF16 or F16: half the memory of float32, read by the
// half GEMM kernels (nn/linear_half.go) and widened row by row for the
// embedding lookup. Norms and biases, LoRA parameters, gradients, optimiser
// state, activations and the KV cache stay float32. Half weights are
// frozen: SetTrainable refuses them.

// halfWeightSource is a weightSource that can hand out 16-bit weights: loadWeights
// keeps every 2-D weight in BaseDType when the source offers it.
type halfWeightSource interface {
	weightSource
	// BaseDType is the dtype the 2-D weights are to be kept in (F32: none).
	BaseDType() tensor.DType
	// Half returns the named tensor as BaseDType bit patterns and its shape;
	// the values may alias a read-only mapping of the file.
	Half(name string) ([]uint16, []int, error)
}

// halfable reports whether slot s may be kept in 16 bits: the linear
// weights and the token embedding (GPT-2's small position table stays
// float32).
func (m *Transformer) halfable(s slot) bool { return len(s.w.Shape) == 2 && s.w != m.wpe }

// loadHalf fills slot s from src's 16-bit values, transposing GPT-2's
// Conv1D layout into a fresh slice.
func (s *slot) loadHalf(src halfWeightSource, fn string) error {
	h, shape, err := src.Half(fn)
	if err != nil {
		return err
	}
	want := s.w.Shape
	if s.conv1d {
		want = []int{want[1], want[0]}
	}
	if !tensor.SameShape(shape, want) {
		return fmt.Errorf("tensor %s has shape %v, expected %v", fn, shape, want)
	}
	if i := firstNonFiniteHalf(h, src.BaseDType()); i >= 0 {
		return fmt.Errorf("tensor %s holds %v at index %d (NaN/Inf weights are refused)", fn, src.BaseDType().Widen(h[i]), i)
	}
	if s.conv1d {
		r, c := want[0], want[1]
		t := make([]uint16, len(h))
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				t[j*r+i] = h[i*c+j]
			}
		}
		h = t
	}
	s.w.Data, s.w.Half, s.w.DType = nil, h, src.BaseDType()
	return nil
}

// BaseDType is the dtype the model's matrices are kept in.
func (m *Transformer) BaseDType() tensor.DType { return m.wte.DType }

// SetBaseDType converts every 2-D weight to dt (rounding to nearest even,
// widening back to float32, quantizing (quant.go) or dequantizing).
// Trainable weights cannot be made half or quantized.
func (m *Transformer) SetBaseDType(dt tensor.DType) error {
	for _, s := range m.slots {
		if !m.halfable(s) || s.w.DType == dt {
			continue
		}
		if dt != tensor.F32 && *s.g != nil {
			return fmt.Errorf("model: %s is trainable and cannot be kept in %v", s.name, dt)
		}
		w := s.w
		switch {
		case dt.BlockSize() > 1:
			if err := s.quantize(dt); err != nil {
				return err
			}
		case w.IsQuant():
			f := w.Float32()
			w.Data, w.Quant, w.Tiles, w.DType = f, nil, nil, tensor.F32
			if dt != tensor.F32 {
				return m.SetBaseDType(dt)
			}
		case dt == tensor.F32:
			w.Data, w.Half, w.DType = w.Float32(), nil, tensor.F32
		case w.DType == tensor.F32:
			h := make([]uint16, len(w.Data))
			kernels.For(len(h), 1<<16, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					h[i] = dt.Narrow(w.Data[i])
				}
			})
			w.Data, w.Half, w.DType = nil, h, dt
		default: // one 16-bit dtype to the other
			for i, v := range w.Half {
				w.Half[i] = dt.Narrow(w.DType.Widen(v))
			}
			w.DType = dt
		}
	}
	return nil
}

// newHalfSlots makes every 2-D weight an empty dt weight, before a random
// init writes it: a large model is never held in float32.
func (m *Transformer) newHalfSlots(dt tensor.DType) {
	for _, s := range m.slots {
		if m.halfable(s) && dt.BlockSize() > 1 {
			s.w.Data, s.w.DType = nil, dt // filled by initQuant
		} else if m.halfable(s) {
			s.w.Data, s.w.Half, s.w.DType = nil, make([]uint16, tensor.Numel(s.w.Shape)), dt
		}
	}
}

// initRandomDType is initRandom with the matrices made directly in dt
// (their values are initRandom's rounded to dt).
func (m *Transformer) initRandomDType(seed uint64, dt tensor.DType) {
	if dt != tensor.F32 {
		m.newHalfSlots(dt)
	}
	m.initRandom(seed)
}

// initHalf fills a half weight as initRandom does a float32 one.
func initHalf(w *tensor.Tensor, rng *rand.Rand) {
	for i := range w.Half {
		w.Half[i] = w.DType.Narrow(float32(rng.NormFloat64() * 0.02))
	}
}

// checkHalfTrainable panics when a half weight is made trainable: a caller
// must refuse that first (train refuses --method full with a half base).
func checkHalfTrainable(s slot) {
	if s.w.IsHalf() {
		panic(fmt.Sprintf("model: %s is kept in %v (--base-dtype) and cannot be trained; load the base with --base-dtype f32", s.name, s.w.DType))
	}
}

// readDirect converts a stored tensor straight into s's float32 buffer when
// src can (a safetensors file) and no transpose is needed: a converted
// temporary per tensor (a BF16 file loaded as float32) left garbage that
// the GC let grow the heap to twice the model (9.9 GB peak RSS for a
// 1.2B-parameter base instead of 5). ok is false when it did not apply.
func readDirect(src weightSource, s slot, fn string) (ok bool, err error) {
	rs, can := src.(interface {
		Info(string) (safetensors.Info, bool)
		ReadInto(string, []float32) error
	})
	if !can || s.conv1d || s.w.IsHalf() {
		return false, nil
	}
	in, found := rs.Info(fn)
	if !found || !tensor.SameShape(in.Shape, s.w.Shape) {
		return false, nil // the general path reports it
	}
	if err := rs.ReadInto(fn, s.w.Data); err != nil {
		return true, err
	}
	if i := firstNonFinite(s.w.Data); i >= 0 {
		return true, fmt.Errorf("tensor %s holds %v at index %d (NaN/Inf weights are refused)", fn, s.w.Data[i], i)
	}
	return true, nil
}

// firstNonFiniteHalf is firstNonFinite for 16-bit values of dtype dt (all
// exponent bits set: Inf or NaN).
func firstNonFiniteHalf(h []uint16, dt tensor.DType) int {
	mask := uint16(0x7f80) // bf16: 8 exponent bits
	if dt == tensor.F16 {
		mask = 0x7c00
	}
	for i, v := range h {
		if v&mask == mask {
			return i
		}
	}
	return -1
}
