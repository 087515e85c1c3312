package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/golora/golora/tensor"
)

// ErrLlama2C is wrapped by errors about malformed llama2.c checkpoints.
var ErrLlama2C = errors.New("llama2.c checkpoint")

const llama2cMagic = 0x616b3432 // "ak42", llama2.c export version >= 1

// FromLlama2C reads a llama2.c checkpoint: the legacy (version 0) run.c
// layout, or export version 1 (float32 with the "ak42" header). A negative
// vocab_size in version 0 means an untied classifier stored at the end.
// name is used in errors.
func FromLlama2C(data []byte, name string) (*Transformer, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", name, ErrLlama2C, fmt.Sprintf(format, a...))
	}
	if len(data) < 28 {
		return nil, bad("file of %d bytes is shorter than the 28-byte header", len(data))
	}
	i32 := func(off int) int { return int(int32(binary.LittleEndian.Uint32(data[off:]))) }
	var dim, hidden, L, NH, NKV, V, seq int
	var shared bool
	var off int
	version := 0
	if binary.LittleEndian.Uint32(data) == llama2cMagic {
		version = i32(4)
		if version != 1 {
			return nil, bad("export version %d not supported (only 0 and float32 version 1)", version)
		}
		if len(data) < 256 {
			return nil, bad("version 1 header truncated")
		}
		dim, hidden, L, NH, NKV, V, seq = i32(8), i32(12), i32(16), i32(20), i32(24), i32(28), i32(32)
		shared = data[36] != 0
		off = 256
	} else {
		dim, hidden, L, NH, NKV, V, seq = i32(0), i32(4), i32(8), i32(12), i32(16), i32(20), i32(24)
		shared = V > 0
		if V < 0 {
			V = -V
		}
		off = 28
	}
	if dim <= 0 || hidden <= 0 || L <= 0 || NH <= 0 || NKV <= 0 || V <= 0 || seq <= 0 || dim%NH != 0 || NH%NKV != 0 || (dim/NH)%2 != 0 {
		return nil, bad("implausible header dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d", dim, hidden, L, NH, NKV, V, seq)
	}
	D := dim / NH
	KVD := NKV * D
	floats := (len(data) - off) / 4
	next := func(n int) ([]float32, error) {
		if (len(data)-off)/4 < n {
			return nil, bad("truncated: need %d more floats at byte %d, file has %d floats of weights", n, off, floats)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off+4*i:]))
		}
		off += 4 * n
		return out, nil
	}
	cfg := &Config{
		ModelType: "llama", VocabSize: V, HiddenSize: dim, IntermediateSize: hidden,
		NumHiddenLayers: L, NumAttentionHeads: NH, NumKeyValueHeads: NKV, HeadDim: D,
		MaxPositionEmbeddings: seq, RopeTheta: 10000, RMSNormEps: 1e-5, HiddenAct: "silu",
		TieWordEmbeddings: &shared, BOSTokenID: TokenIDs{1}, EOSTokenID: TokenIDs{2},
	}
	if err := cfg.Normalize(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	src := MapSource{}
	n := llamaNames(Arch{})
	// Per-layer stacks in file order; each entry is (name suffix, rows, cols).
	type stack struct {
		suffix     func(l int) string
		rows, cols int
		permute    int // heads to permute from interleaved to rotate_half, 0 = none
	}
	ln := func(f func(LayerNames) string) func(int) string {
		return func(l int) string { return f(n.Layer(l)) }
	}
	norm1 := stack{ln(func(x LayerNames) string { return x.Norm1 + ".weight" }), 1, dim, 0}
	norm2 := stack{ln(func(x LayerNames) string { return x.Norm2 + ".weight" }), 1, dim, 0}
	wq := stack{ln(func(x LayerNames) string { return x.Q + ".weight" }), dim, dim, NH}
	wk := stack{ln(func(x LayerNames) string { return x.K + ".weight" }), KVD, dim, NKV}
	wv := stack{ln(func(x LayerNames) string { return x.V + ".weight" }), KVD, dim, 0}
	wo := stack{ln(func(x LayerNames) string { return x.O + ".weight" }), dim, dim, 0}
	w1 := stack{ln(func(x LayerNames) string { return x.Gate + ".weight" }), hidden, dim, 0}
	w2 := stack{ln(func(x LayerNames) string { return x.Down + ".weight" }), dim, hidden, 0}
	w3 := stack{ln(func(x LayerNames) string { return x.Up + ".weight" }), hidden, dim, 0}
	readStack := func(s stack) error {
		for l := 0; l < L; l++ {
			w, err := next(s.rows * s.cols)
			if err != nil {
				return err
			}
			if s.permute > 0 {
				w = InterleavedToHalf(w, s.permute, D, s.cols)
			}
			shape := []int{s.rows, s.cols}
			if s.rows == 1 {
				shape = []int{s.cols}
			}
			src[s.suffix(l)] = tensor.From(w, shape...)
		}
		return nil
	}
	single := func(name string, shape ...int) error {
		w, err := next(tensor.Numel(shape))
		if err != nil {
			return err
		}
		src[name] = tensor.From(w, shape...)
		return nil
	}
	var order []func() error
	if version == 0 {
		order = []func() error{
			func() error { return single(n.Embed+".weight", V, dim) },
			func() error { return readStack(norm1) },
			func() error { return readStack(wq) }, func() error { return readStack(wk) },
			func() error { return readStack(wv) }, func() error { return readStack(wo) },
			func() error { return readStack(norm2) },
			func() error { return readStack(w1) }, func() error { return readStack(w2) }, func() error { return readStack(w3) },
			func() error { return single(n.FinalNorm+".weight", dim) },
			func() error { _, err := next(seq * D / 2); return err }, // legacy freq_cis_real (seq × D/2), recomputed
			func() error { _, err := next(seq * D / 2); return err }, // ... and freq_cis_imag
		}
	} else {
		order = []func() error{
			func() error { return readStack(norm1) }, func() error { return readStack(norm2) },
			func() error { return single(n.FinalNorm+".weight", dim) },
			func() error { return single(n.Embed+".weight", V, dim) },
			func() error { return readStack(wq) }, func() error { return readStack(wk) },
			func() error { return readStack(wv) }, func() error { return readStack(wo) },
			func() error { return readStack(w1) }, func() error { return readStack(w2) }, func() error { return readStack(w3) },
		}
	}
	if !shared {
		order = append(order, func() error { return single(n.Head+".weight", V, dim) })
	}
	for _, f := range order {
		if err := f(); err != nil {
			return nil, err
		}
	}
	if off != len(data) {
		return nil, bad("%d bytes left over after the weights: header and file disagree", len(data)-off)
	}
	return loadModel(cfg, src, name)
}

// InterleavedToHalf permutes the rows of a Meta/llama2.c projection (heads ×
// D rows of cols) so RoPE's interleaved pairs (2j, 2j+1) become HF's
// rotate_half pairs (j, j+D/2): HF row h*D + half*D/2 + j = Meta row
// h*D + 2j + half, as transformers' conversion script does.
func InterleavedToHalf(w []float32, heads, D, cols int) []float32 {
	return permuteRoPE(w, heads, D, cols, false)
}

// HalfToInterleaved is the inverse of InterleavedToHalf: what llama.cpp's
// converter does to q/k rows of a Llama checkpoint (and to a LoRA B of q/k).
func HalfToInterleaved(w []float32, heads, D, cols int) []float32 {
	return permuteRoPE(w, heads, D, cols, true)
}

func permuteRoPE(w []float32, heads, D, cols int, inverse bool) []float32 {
	out := make([]float32, len(w))
	for h := 0; h < heads; h++ {
		for half := 0; half < 2; half++ {
			for j := 0; j < D/2; j++ {
				dst := h*D + half*D/2 + j
				src := h*D + 2*j + half
				if inverse {
					dst, src = src, dst
				}
				copy(out[dst*cols:(dst+1)*cols], w[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}
