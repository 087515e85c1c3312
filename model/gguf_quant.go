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

func (s quantSource) QuantDType(string) tensor.DType { return s.dt }

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
// quantizing to dt, or under --base-dtype auto (auto) to the kept type
// nearest their own (autoDType: a Q4_K_M file's Q6_K tensors become Q8_0,
// not Q4_K).
type ggufQuantSource struct {
	*ggufSource
	dt   tensor.DType
	auto bool
}

func (s ggufQuantSource) QuantDType(hf string) tensor.DType {
	if ti, ok := s.f.Info(s.names[hf]); ok && s.auto {
		if dt := autoDType(ti.Type); dt.BlockSize() > 1 {
			return dt
		}
	}
	return s.dt
}

// autoDType is the dtype --base-dtype auto keeps a GGUF type in: Q8_0 and
// Q4_K as they are, the other quantized types as Q8_0 when they spend more
// than Q4_K's 4.5 bits per weight (Q5_*, Q6_K) and as Q4_K otherwise, so
// none is narrowed much; 16-bit types as themselves; the rest float32.
func autoDType(t gguf.Type) tensor.DType {
	switch {
	case t == gguf.F16:
		return tensor.F16
	case t == gguf.BF16:
		return tensor.BF16
	case !t.Quantized():
		return tensor.F32
	case 2*8*t.BlockBytes() > 9*t.BlockSize():
		return tensor.Q8_0
	}
	return tensor.Q4_K
}

// ggufAutoDType resolves --base-dtype auto for a GGUF file: the autoDType
// of the type that holds most of its matrices' weights (a Q4_K_M file is
// q4_k, a Q8_0 one q8_0, an F16 one f16), so a quantized file is never
// widened to float32 by default.
func ggufAutoDType(path string) (tensor.DType, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return tensor.F32, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	weights := map[tensor.DType]int{}
	best := tensor.F32
	for _, ti := range f.Tensors {
		if len(ti.Dims) != 2 {
			continue
		}
		dt := autoDType(ti.Type)
		weights[dt] += ti.Numel()
		if weights[dt] > weights[best] {
			best = dt
		}
	}
	return best, nil
}

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

// loadGGUFQuant loads a GGUF model with a quantized base of dtype dt
// (auto: --base-dtype auto chose it, see ggufQuantSource).
func loadGGUFQuant(path string, dt tensor.DType, auto bool) (Model, error) {
	m, err := loadGGUFDType(path, dt, auto)
	if err != nil {
		return nil, err
	}
	return m, nil
}
