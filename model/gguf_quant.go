package model

import (
	"fmt"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// quantSource quantizes a safetensors checkpoint's weights on load
// (quantWeightSource).
type quantSource struct {
	safetensors.Source
	dt tensor.DType
}

func (s quantSource) QuantDType() tensor.DType { return s.dt }

// Quantized hands out a BF16 or F16 matrix as a 16-bit view of the file
// (memory-mapped where it can), to be quantized row by row.
func (s quantSource) Quantized(name string) (*tensor.Tensor, error) {
	in, ok := s.Info(name)
	if !ok || len(in.Shape) != 2 || (in.DType != "BF16" && in.DType != "F16") {
		return nil, nil
	}
	dt, _ := tensor.ParseDType(in.DType)
	h, shape, err := (&halfSource{Source: s.Source, dt: dt}).Half(name)
	if err != nil {
		return nil, err
	}
	return tensor.NewHalf(dt, h, shape...), nil
}

// ggufQuantSource hands out a GGUF file's Q8_0 and Q4_K weights as stored
// (copied out of the mapping, which is closed after loading: memory holds
// the blocks, never a float32 copy) and the others dequantized, for
// quantizing to dt.
type ggufQuantSource struct {
	*ggufSource
	dt tensor.DType
}

func (s ggufQuantSource) QuantDType() tensor.DType { return s.dt }

func (s ggufQuantSource) Quantized(hf string) (*tensor.Tensor, error) {
	g, ok := s.names[hf]
	if !ok {
		return nil, fmt.Errorf("tensor %q not found", hf)
	}
	raw, ti, err := s.f.Raw(g)
	if err != nil {
		return nil, err
	}
	dt, ok := gguf.DTypeOf(ti.Type)
	shape := ti.Shape()
	if !ok || len(shape) != 2 {
		return nil, nil
	}
	if b := gguf.FirstNonFiniteScale(raw, ti.Type); b >= 0 {
		return nil, fmt.Errorf("%s: tensor %s: block %d has a NaN/Inf scale (such weights are refused)", s.f.Path(), g, b)
	}
	rows, rb := shape[0], len(raw)/shape[0]
	q := make([]byte, len(raw))
	perm := ggufRowOrder(s.cfg, hf, rows)
	for r := 0; r < rows; r++ {
		copy(q[r*rb:(r+1)*rb], raw[perm[r]*rb:(perm[r]+1)*rb])
	}
	return tensor.NewQuant(dt, q, rows, shape[1]), nil
}

// ggufRowOrder is the stored row each row of HF module hf comes from:
// GGUFPermuteRows's permutation (llama's q/k rows), found by permuting the
// row numbers themselves, so quantized rows move as whole blocks.
func ggufRowOrder(cfg *Config, hf string, rows int) []int {
	idx := tensor.New(rows, 1)
	for i := range idx.Data {
		idx.Data[i] = float32(i) // exact: rows < 2^24
	}
	p := GGUFPermuteRows(cfg, hf, idx, false)
	out := make([]int, rows)
	for i, v := range p.Data {
		out[i] = int(v)
	}
	return out
}

// loadGGUFQuant loads a GGUF model with a quantized base of dtype dt.
func loadGGUFQuant(path string, dt tensor.DType) (Model, error) {
	m, err := loadGGUFDType(path, dt)
	if err != nil {
		return nil, err
	}
	return m, nil
}
