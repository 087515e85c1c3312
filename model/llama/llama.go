// Package llama builds the Llama family: model_type llama, mistral and
// qwen2 (Llama plus q/k/v biases), from Hugging Face checkpoints or llama.c
// .bin files.
//
// Conventions (HF's, which the shared block in model/internal/core
// implements): RMSNorm pre-norm blocks, RoPE in rotate_half form (dimension
// j pairs with j+D/2), grouped-query attention where query head h reads kv
// head h / (NH/NKV), and a SwiGLU MLP down(silu(gate(x)) * up(x)). llama2.c
// checkpoints rotate interleaved pairs; their Wq/Wk rows are permuted on
// load so the same forward serves both. Mistral's sliding_window is not
// applied: sequences longer than the window attend to the whole prefix.
package llama

import (
	"fmt"

	"github.com/golora/golora/model/internal/core"
)

// Arch is the block variant for cfg.
func Arch(cfg *core.Config) core.Arch {
	a := core.Arch{QKVBias: cfg.AttentionBias, OBias: cfg.AttentionBias, MLPBias: cfg.MLPBias}
	if cfg.ModelType == "qwen2" {
		// Qwen2 always has q/k/v biases and never an o_proj bias; its config
		// has no attention_bias key.
		a.QKVBias, a.OBias = true, false
	}
	return a
}

// Names are HF's LlamaForCausalLM state-dict names.
func Names() core.Names {
	return core.Names{
		Embed: "model.embed_tokens", FinalNorm: "model.norm", Head: "lm_head",
		Layer: func(l int) core.LayerNames {
			p := fmt.Sprintf("model.layers.%d.", l)
			return core.LayerNames{
				Norm1: p + "input_layernorm", Norm2: p + "post_attention_layernorm",
				Q: p + "self_attn.q_proj", K: p + "self_attn.k_proj", V: p + "self_attn.v_proj", O: p + "self_attn.o_proj",
				Gate: p + "mlp.gate_proj", Up: p + "mlp.up_proj", Down: p + "mlp.down_proj",
			}
		},
	}
}

// New allocates a model of cfg's shape with unit norms and zero matrices.
func New(cfg *core.Config) (*core.Transformer, error) {
	switch cfg.ModelType {
	case "llama", "mistral", "qwen2":
	default:
		return nil, fmt.Errorf("llama: %w: model_type %q", core.ErrUnsupportedModel, cfg.ModelType)
	}
	return core.New(cfg, Arch(cfg), Names()), nil
}

// Load builds the model and reads its weights from src; what names the
// checkpoint in errors.
func Load(cfg *core.Config, src core.Source, what string) (*core.Transformer, error) {
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := m.LoadWeights(src, what, nil); err != nil {
		return nil, err
	}
	return m, nil
}
