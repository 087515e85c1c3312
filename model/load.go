package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tensor"
)

// ErrMissingTensor is wrapped by the error listing absent checkpoint tensors.
var ErrMissingTensor = errors.New("missing tensors")

// weightSource is where weights come from: a safetensors file or shard set, or an
// in-memory map (llama2.c checkpoints, tests).
type weightSource interface {
	Names() []string
	Tensor(name string) (*tensor.Tensor, error)
}

// mapSource is an in-memory weightSource.
type mapSource map[string]*tensor.Tensor

// Names lists the tensor names, sorted.
func (m mapSource) Names() []string {
	ns := make([]string, 0, len(m))
	for k := range m {
		ns = append(ns, k)
	}
	sort.Strings(ns)
	return ns
}

// Tensor returns the named tensor.
func (m mapSource) Tensor(name string) (*tensor.Tensor, error) {
	t, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("tensor %q not found", name)
	}
	return t, nil
}

// loadWeights copies every weight of m from src. fileName maps a canonical
// name to the name in src (nil: identity). All missing tensors and shape
// mismatches are reported together; what names the checkpoint in errors.
func (m *Transformer) loadWeights(src weightSource, what string, fileName func(string) string) error {
	have := map[string]bool{}
	for _, n := range src.Names() {
		have[n] = true
	}
	var missing, problems []string
	for _, s := range m.slots {
		fn := s.name
		if fileName != nil {
			fn = fileName(s.name)
		}
		if !have[fn] {
			missing = append(missing, fn)
			continue
		}
		if qs, ok := src.(quantWeightSource); ok && m.halfable(s) {
			if err := m.loadQuant(qs, s, fn); err != nil {
				problems = append(problems, err.Error())
			}
			release(src, fn)
			continue
		}
		if hs, ok := src.(halfWeightSource); ok && hs.BaseDType() != tensor.F32 && m.halfable(s) {
			// Not released: the weights may be the mapping's own pages.
			if err := s.loadHalf(hs, fn); err != nil {
				problems = append(problems, err.Error())
			}
			continue
		}
		if ok, err := readDirect(src, s, fn); ok {
			if err != nil {
				problems = append(problems, err.Error())
			}
			release(src, fn)
			continue
		}
		t, err := src.Tensor(fn)
		release(src, fn)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		want := s.w.Shape
		if s.conv1d {
			want = []int{want[1], want[0]}
		}
		if !tensor.SameShape(t.Shape, want) {
			problems = append(problems, fmt.Sprintf("tensor %s has shape %v, expected %v", fn, t.Shape, want))
			continue
		}
		if i := firstNonFinite(t.Data); i >= 0 {
			problems = append(problems, fmt.Sprintf("tensor %s holds %v at index %d (NaN/Inf weights are refused)", fn, t.Data[i], i))
			continue
		}
		if s.conv1d {
			transpose(s.w.Data, t.Data, want[0], want[1])
		} else {
			copy(s.w.Data, t.Data)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%d of %d expected for model_type %s with %d layers: %s", len(missing), len(m.slots), m.cfg.ModelType, m.cfg.NumHiddenLayers, strings.Join(missing, ", "))
		if len(problems) > 0 {
			msg += "; " + strings.Join(problems, "; ")
		}
		return fmt.Errorf("model: %s: %w: %s", what, ErrMissingTensor, msg)
	}
	if len(problems) > 0 {
		return fmt.Errorf("model: %s: %s", what, strings.Join(problems, "; "))
	}
	return nil
}

// release drops the pages of the file tensor fn from the resident set once
// it has been copied or converted (a memory-mapped checkpoint): the peak RSS
// of loading then holds the model plus one tensor of the file, not the
// model plus every page of the file read so far.
func release(src weightSource, fn string) {
	if r, ok := src.(interface{ Release(string) }); ok {
		r.Release(fn)
	}
}

// transpose writes src (r, c) into dst as (c, r).
func transpose(dst, src []float32, r, c int) {
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			dst[j*r+i] = src[i*c+j]
		}
	}
}

// StateDict returns the weights in checkpoint layout (Conv1D weights
// transposed back to [in, out]), keyed by fileName(name).
func (m *Transformer) StateDict(fileName func(string) string) map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(m.slots))
	for _, s := range m.slots {
		fn := s.name
		if fileName != nil {
			fn = fileName(s.name)
		}
		w := s.w
		if w.IsQuant() || s.conv1d && w.IsHalf() { // through float32 (exact; savers write float dtypes)
			w = tensor.From(w.Float32(), w.Shape...)
		}
		if s.conv1d {
			r, c := w.Shape[0], w.Shape[1]
			t := tensor.New(c, r)
			transpose(t.Data, w.Data, r, c)
			out[fn] = t
		} else {
			out[fn] = w
		}
	}
	return out
}

// initRandom fills the weights as HF's _init_weights does (normal(0, 0.02)
// matrices and embeddings, unit norms, zero biases), deterministically.
func (m *Transformer) initRandom(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for _, s := range m.slots {
		switch {
		case s.w.IsQuant():
			s.initQuant(rng)
		case s.w.IsHalf():
			initHalf(s.w, rng)
		case len(s.w.Shape) == 2:
			for i := range s.w.Data {
				s.w.Data[i] = float32(rng.NormFloat64() * 0.02)
			}
		case strings.HasSuffix(s.name, ".bias"):
			clear(s.w.Data)
		default:
			one := float32(1)
			if m.arch.NormPlusOne {
				one = 0 // the norm scales by 1+w
			}
			for i := range s.w.Data {
				s.w.Data[i] = one
			}
		}
	}
}

// setFileNames records the checkpoint's naming (nil: canonical) so SaveHF
// writes the names it was loaded with.
func (m *Transformer) setFileNames(f func(string) string) { m.fileName = f }

// SaveHF writes dir/config.json and dir/model.safetensors (F32) in the
// family's HF layout and names, atomically per file.
func (m *Transformer) SaveHF(dir string) error { return m.SaveHFDType(dir, tensor.F32) }

// SaveHFDType is SaveHF storing every tensor in dt (rounded to nearest even).
func (m *Transformer) SaveHFDType(dir string, dt tensor.DType) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cj, err := m.cfg.JSON()
	if err != nil {
		return err
	}
	if err := safetensors.WriteDType(filepath.Join(dir, "model.safetensors"), m.StateDict(m.fileName), map[string]string{"format": "pt"}, dt.SafetensorsName()); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, "config.json"), append(cj, '\n'))
}

// firstNonFinite is the index of the first NaN or Inf in x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}
