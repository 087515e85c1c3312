package model

import (
	"fmt"
	"math"

	"github.com/golora/golora/format/safetensors"
)

// maxRoPECells bounds max_position_embeddings × head_dim/2, the size of
// each RoPE table built with the model: 2^28 float32s (1 GiB) is several
// times what any published model needs (Qwen2.5-1M: 1,010,000 × 64).
const maxRoPECells = 1 << 28

// checkFits compares the sizes in cfg with the checkpoint before anything
// is allocated, so that a corrupt or hostile config.json (a billion layers,
// a hidden size of 2^40) is an error instead of an out-of-memory or a
// makeslice panic. The products are taken in float64 so that they cannot
// overflow. The bound counts only the matrices and embeddings the config
// implies, a lower bound on what a matching checkpoint holds; it only
// fires when that is more than twice the checkpoint (plus 1M), so near
// misses (a missing or misshapen tensor) get the family loader's exact
// per-tensor errors, and what a config can make us allocate stays within
// a small multiple of the file.
func checkFits(cfg *Config, src safetensors.Source, what string) error {
	f := func(n int) float64 { return float64(n) }
	C, L, V, I, P := f(cfg.HiddenSize), f(cfg.NumHiddenLayers), f(cfg.VocabSize), f(cfg.IntermediateSize), f(cfg.MaxPositionEmbeddings)
	D := f(cfg.HeadDim)
	if cfg.HeadDim <= 0 && cfg.NumAttentionHeads > 0 {
		D = C / f(cfg.NumAttentionHeads)
	}
	QD, KVD := f(cfg.NumAttentionHeads)*D, f(cfg.NumKeyValueHeads)*D
	mlp := 3.0 // gate, up, down
	if cfg.ModelType == "gpt2" {
		mlp = 2
	}
	need := V*C + L*(2*C*QD+2*C*KVD+mlp*C*I)
	if !cfg.Tied() {
		need += V * C
	}
	if cfg.ModelType == "gpt2" {
		need += P * C
	} else if P*D/2 > maxRoPECells {
		return fmt.Errorf("model: %s: max_position_embeddings %d with head_dim %g needs RoPE tables of %.3g entries (limit %d)", what, cfg.MaxPositionEmbeddings, D, P*D/2, maxRoPECells)
	}
	var have float64
	for _, n := range src.Names() {
		in, ok := src.Info(n)
		if !ok {
			continue
		}
		size := 1.0
		for _, d := range in.Shape {
			size *= f(d)
		}
		have += size
	}
	if need > 2*have+(1<<20) || math.IsNaN(need) {
		return fmt.Errorf("model: %s: config.json (%s, %d layers, hidden %d, intermediate %d, vocab %d, %d heads, %d kv heads) needs at least %.4g weights but the checkpoint holds %.4g: config and weights do not match",
			what, cfg.ModelType, cfg.NumHiddenLayers, cfg.HiddenSize, cfg.IntermediateSize, cfg.VocabSize, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, need, have)
	}
	return nil
}
