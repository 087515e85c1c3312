// Package llama builds the RoPE decoder families from Hugging Face
// checkpoints (or llama.c .bin files): llama, mistral, qwen2, qwen3,
// gemma2, gemma3_text, phi3, olmo2, smollm3 and granite. Each family is one
// row of the families table below: the block variant (core.Arch) its
// transformers modeling file implies, with its checkpoint names derived
// from that variant. The per-layer plan (sliding windows, RoPE types and
// bases, layers without RoPE) is read from the config by core.
//
// Conventions (HF's, which the shared block in model/internal/core
// implements): RMSNorm blocks, RoPE in rotate_half form (dimension j pairs
// with j+D/2), grouped-query attention where query head h reads kv head
// h / (NH/NKV), and a gated MLP down(act(gate(x)) * up(x)). llama2.c
// checkpoints rotate interleaved pairs; their Wq/Wk rows are permuted on
// load so the same forward serves both.
package llama

import (
	"fmt"
	"math"

	"github.com/golora/golora/model/internal/core"
)

// families maps model_type to its block variant. Biases follow the
// config's attention_bias / mlp_bias unless the family fixes them.
var families = map[string]func(cfg *core.Config, a *core.Arch){
	"llama":   nil,
	"mistral": nil,
	"qwen2": func(cfg *core.Config, a *core.Arch) {
		// Qwen2 always has q/k/v biases and never an o_proj bias; its config
		// has no attention_bias key.
		a.QKVBias, a.OBias = true, false
	},
	"qwen3":   func(cfg *core.Config, a *core.Arch) { a.QKNorm = core.QKNormHead },
	"smollm3": nil, // no_rope_layers: core's layer plan
	"phi3": func(cfg *core.Config, a *core.Arch) {
		a.FusedQKV, a.FusedGateUp = true, true
		a.QKVBias, a.OBias, a.MLPBias = false, false, false
	},
	"olmo2": func(cfg *core.Config, a *core.Arch) {
		a.NoPreNorm, a.PostNorm, a.QKNorm = true, true, core.QKNormAll
	},
	"gemma2": gemma,
	"gemma3_text": func(cfg *core.Config, a *core.Arch) {
		gemma(cfg, a)
		a.QKNorm = core.QKNormHead
	},
	"granite": func(cfg *core.Config, a *core.Arch) {
		a.EmbedScale = float32(cfg.EmbeddingMultiplier)
		a.ResidScale = float32(cfg.ResidualMultiplier)
		a.AttnScale = float32(cfg.AttentionMultiplier)
		a.LogitScale = float32(1 / cfg.LogitsScaling)
	},
}

// gemma is Gemma 2 and 3's block: (1+w) RMSNorms before and after both
// sublayers, embeddings scaled by √hidden, scores scaled by
// query_pre_attn_scalar^-½, optional soft-caps.
func gemma(cfg *core.Config, a *core.Arch) {
	a.NormPlusOne, a.PostNorm = true, true
	a.EmbedScale = float32(math.Sqrt(float64(cfg.HiddenSize)))
	if cfg.QueryPreAttnScalar > 0 {
		a.AttnScale = float32(1 / math.Sqrt(cfg.QueryPreAttnScalar))
	}
	if cfg.AttnLogitSoftcapping != nil {
		a.AttnSoftCap = float32(*cfg.AttnLogitSoftcapping)
	}
	if cfg.FinalLogitSoftcapping != nil {
		a.LogitSoftCap = float32(*cfg.FinalLogitSoftcapping)
	}
}

// Supported reports whether model_type is one of this package's families.
func Supported(modelType string) bool {
	_, ok := families[modelType]
	return ok
}

// Arch is the block variant for cfg.
func Arch(cfg *core.Config) core.Arch {
	a := core.Arch{QKVBias: cfg.AttentionBias, OBias: cfg.AttentionBias, MLPBias: cfg.MLPBias}
	if f := families[cfg.ModelType]; f != nil {
		f(cfg, &a)
	}
	switch cfg.HiddenAct {
	case "gelu_pytorch_tanh", "gelu_new":
		a.GeGLU = true
	}
	return a
}

// TargetAliases maps golora's short --targets names to the module names of
// the variant a: Phi-3's fused projections answer to several (PEFT has no
// finer grain: a LoRA on qkv_proj adapts q, k and v together).
func TargetAliases(a core.Arch) map[string]string {
	t := map[string]string{"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
		"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
	if a.FusedQKV {
		t["q"], t["k"], t["v"], t["qkv"] = "qkv_proj", "qkv_proj", "qkv_proj", "qkv_proj"
	}
	if a.FusedGateUp {
		t["gate"], t["up"], t["gate_up"] = "gate_up_proj", "gate_up_proj", "gate_up_proj"
	}
	return t
}

// Names are HF's state-dict names for the variant a (LlamaForCausalLM's
// when a is plain): the fused Phi-3 projections, the q/k norms, and the
// norm names of the pre-norm (Llama), sandwich (Gemma) and post-norm
// (OLMo 2) blocks.
func Names(a core.Arch) core.Names {
	return core.Names{
		Embed: "model.embed_tokens", FinalNorm: "model.norm", Head: "lm_head",
		Layer: func(l int) core.LayerNames {
			p := fmt.Sprintf("model.layers.%d.", l)
			n := core.LayerNames{
				Q: p + "self_attn.q_proj", K: p + "self_attn.k_proj", V: p + "self_attn.v_proj", O: p + "self_attn.o_proj",
				QKV: p + "self_attn.qkv_proj", QNorm: p + "self_attn.q_norm", KNorm: p + "self_attn.k_norm",
				Gate: p + "mlp.gate_proj", Up: p + "mlp.up_proj", GateUp: p + "mlp.gate_up_proj", Down: p + "mlp.down_proj",
				Norm1: p + "input_layernorm", Norm2: p + "post_attention_layernorm",
			}
			if a.PostNorm {
				n.PostAttn, n.PostMLP = p+"post_attention_layernorm", p+"post_feedforward_layernorm"
				n.Norm2 = p + "pre_feedforward_layernorm"
			}
			return n
		},
	}
}

// New allocates a model of cfg's shape with unit norms and zero matrices.
func New(cfg *core.Config) (*core.Transformer, error) {
	if !Supported(cfg.ModelType) {
		return nil, fmt.Errorf("llama: %w: model_type %q", core.ErrUnsupportedModel, cfg.ModelType)
	}
	a := Arch(cfg)
	return core.New(cfg, a, Names(a)), nil
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
