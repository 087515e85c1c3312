package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// Options are LoadWith's choices.
type Options struct {
	// BaseDType is the dtype the base's matrices (linear weights, token
	// embedding) are kept in: "" or "f32" (float32, Load's default, as
	// Hugging Face's from_pretrained), "bf16", "f16", "q8_0", "q4_k", or
	// "auto" (the checkpoint's dtype: BF16 and F16 files stay 16-bit,
	// memory-mapped when the file holds that dtype; a quantized GGUF file
	// keeps its blocks, ggufAutoDType). Norms, biases, adapters, gradients,
	// optimiser state, activations and the KV cache are float32 whatever
	// it says; 16-bit weights cannot be trained (full fine-tuning needs
	// float32).
	BaseDType string
}

// BaseDTypeValues lists the values of --base-dtype.
const BaseDTypeValues = "auto|f32|bf16|f16|q8_0|q4_k"

// BaseDTypeUsage is the help text of every command's --base-dtype flag
// (default "f32").
const BaseDTypeUsage = "dtype the base model's matrices are kept in and computed from: " + BaseDTypeValues + " (auto: the checkpoint's, a Q8_0/Q4_K GGUF's blocks kept; bf16/f16 halve the memory, q8_0/q4_k keep GGUF blocks of 8.5/4.5 bits per weight (QLoRA-style), norms, adapters, gradients, optimizer state and activations stay f32; bf16 rounds activations as PyTorch CPU autocast)"

// IsHalfDType reports whether a --base-dtype value asks for 16-bit weights
// whatever the checkpoint ("auto" depends on it).
func IsHalfDType(s string) bool { return s == "bf16" || s == "f16" }

// IsQuantDType reports whether a --base-dtype value asks for a quantized
// base (q8_0, q4_k).
func IsQuantDType(s string) bool { return s == "q8_0" || s == "q4_k" }

// ParseBaseDType checks a --base-dtype value.
func ParseBaseDType(s string) error {
	switch s {
	case "", "auto", "f32", "bf16", "f16", "q8_0", "q4_k":
		return nil
	}
	return fmt.Errorf("--base-dtype %q: expected one of %s", s, strings.ReplaceAll(BaseDTypeValues, "|", ", "))
}

// baseDType resolves o.BaseDType for the model at path.
func (o Options) baseDType(path string) (tensor.DType, error) {
	if err := ParseBaseDType(o.BaseDType); err != nil {
		return tensor.F32, fmt.Errorf("model: %w", err)
	}
	switch o.BaseDType {
	case "", "f32":
		return tensor.F32, nil
	case "auto":
		if strings.HasSuffix(path, ".gguf") {
			return ggufAutoDType(path)
		}
		return CheckpointDType(path)
	}
	return tensor.ParseDType(o.BaseDType)
}

// CheckpointDType is the dtype a checkpoint stores its matrices in: that
// of its first 2-D float tensor (F32 for llama2.c files and the embedded
// model).
func CheckpointDType(path string) (tensor.DType, error) {
	if path == "" {
		return tensor.F32, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return tensor.F32, fmt.Errorf("model: %w", err)
	}
	weights := path
	if !st.IsDir() {
		if !strings.HasSuffix(path, ".safetensors") && !strings.HasSuffix(path, ".json") {
			return tensor.F32, nil // llama2.c
		}
		if filepath.Base(path) == "config.json" {
			weights = filepath.Dir(path)
		}
	}
	src, err := safetensors.OpenDir(weights)
	if err != nil {
		return tensor.F32, fmt.Errorf("model: %w", err)
	}
	defer src.Close()
	for _, n := range src.Names() {
		if in, ok := src.Info(n); ok && len(in.Shape) == 2 {
			switch in.DType {
			case "BF16":
				return tensor.BF16, nil
			case "F16":
				return tensor.F16, nil
			}
			return tensor.F32, nil
		}
	}
	return tensor.F32, nil
}

// inMemoryDType converts a model loaded as float32 (llama2.c) to dt.
func inMemoryDType(m *Transformer, err error) func(tensor.DType) (Model, error) {
	return func(dt tensor.DType) (Model, error) {
		if err != nil {
			return nil, err
		}
		if err := m.SetBaseDType(dt); err != nil {
			return nil, err
		}
		return m, nil
	}
}

// loadHalf loads a safetensors checkpoint keeping its matrices in dt.
// Tensors the file already holds in dt alias its read-only mapping, so the
// mapping is never released: it lives as long as the process (the model's
// weights are in it). Other dtypes are converted tensor by tensor.
func loadHalf(cfg *Config, src safetensors.Source, what string, dt tensor.DType) (Model, error) {
	hs := &halfSource{Source: src, dt: dt}
	m, err := loadModel(cfg, hs, what)
	if err != nil || !hs.aliased {
		src.Close()
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// halfSource is a safetensors source handing out 16-bit weights
// (halfWeightSource).
type halfSource struct {
	safetensors.Source
	dt      tensor.DType
	aliased bool // some weight aliases the mapping: never close it
}

func (s *halfSource) BaseDType() tensor.DType { return s.dt }

func (s *halfSource) Half(name string) ([]uint16, []int, error) {
	in, ok := s.Info(name)
	if !ok {
		return nil, nil, fmt.Errorf("tensor %q not found", name)
	}
	if in.DType == s.dt.SafetensorsName() {
		if r, ok := s.Source.(interface {
			Raw(string) ([]byte, safetensors.Info, error)
		}); ok {
			b, _, err := r.Raw(name)
			if err != nil {
				return nil, nil, err
			}
			n := len(b) / 2
			if n == 0 {
				return []uint16{}, in.Shape, nil
			}
			if uintptr(unsafe.Pointer(&b[0]))%2 == 0 && littleEndian {
				s.aliased = s.aliased || s.mapped()
				return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), n), in.Shape, nil
			}
			h := make([]uint16, n)
			for i := range h {
				h[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
			}
			return h, in.Shape, nil
		}
	}
	t, err := s.Tensor(name)
	if err != nil {
		return nil, nil, err
	}
	h := make([]uint16, len(t.Data))
	for i, v := range t.Data {
		h[i] = s.dt.Narrow(v)
	}
	return h, t.Shape, nil
}

// mapped reports whether Raw's bytes alias a mapping (rather than a buffer
// read for the call, which the weights may keep).
func (s *halfSource) mapped() bool {
	m, ok := s.Source.(interface{ Mapped() bool })
	return ok && m.Mapped()
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// NewRandomDType is NewRandom with the matrices made directly in dt, so a
// large benchmark model never exists in float32.
func NewRandomDType(cfg *Config, seed uint64, dt tensor.DType) (Model, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	m.initRandomDType(seed, dt)
	return m, nil
}

// SaveHFDType is m.SaveHF storing every tensor in dt (golora merge writes
// the checkpoint's dtype).
func SaveHFDType(m Model, dir string, dt tensor.DType) error {
	t, ok := m.(*Transformer)
	if !ok {
		return fmt.Errorf("model: %T cannot save in %v", m, dt)
	}
	return t.SaveHFDType(dir, dt)
}

// BaseDTypeOf is the dtype m keeps its matrices in.
func BaseDTypeOf(m Model) tensor.DType {
	if t, ok := m.(*Transformer); ok {
		return t.BaseDType()
	}
	return tensor.F32
}

// SetBaseDType converts m's matrices to dt (see Transformer.SetBaseDType).
func SetBaseDType(m Model, dt tensor.DType) error {
	t, ok := m.(*Transformer)
	if !ok {
		return fmt.Errorf("model: %T cannot change its dtype", m)
	}
	return t.SetBaseDType(dt)
}
