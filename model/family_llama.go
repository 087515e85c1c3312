// The RoPE decoder families: llama, mistral, qwen2, qwen3, gemma2,
// gemma3_text, phi3, olmo2, smollm3 and granite (and llama2.c .bin files,
// llama2c.go). Each is one row of ropeVariants below: the block variant
// (arch) its transformers modeling file implies, with its checkpoint names
// derived from that variant, and one row of decoderDefaults when its
// config class has defaults of its own. The per-layer plan (sliding
// windows, RoPE types and bases, layers without RoPE) is read from the
// config by normalizeDecoder.
//
// Conventions (HF's, which the shared block implements): RMSNorm blocks,
// RoPE in rotate_half form (dimension j pairs with j+D/2), grouped-query
// attention where query head h reads kv head h / (NH/NKV), and a gated MLP
// down(act(gate(x)) * up(x)). llama2.c checkpoints rotate interleaved
// pairs; their Wq/Wk rows are permuted on load so the same forward serves
// both.

package model

import (
	"fmt"
	"math"
)

func init() {
	for t := range ropeVariants {
		register(t, family{normalize: (*Config).normalizeDecoder, arch: llamaArch,
			names: llamaNames, targets: llamaTargetAliases})
	}
}

// ropeVariants maps model_type to its block variant. Biases follow the
// config's attention_bias / mlp_bias unless the family fixes them.
var ropeVariants = map[string]func(cfg *Config, a *arch){
	"llama":   nil,
	"mistral": nil,
	"qwen2": func(cfg *Config, a *arch) {
		// Qwen2 always has q/k/v biases and never an o_proj bias; its config
		// has no attention_bias key.
		a.QKVBias, a.OBias = true, false
	},
	"qwen3":   func(cfg *Config, a *arch) { a.QKNorm = qkNormHead },
	"smollm3": nil, // no_rope_layers: normalizeDecoder's layer plan
	"phi3": func(cfg *Config, a *arch) {
		a.FusedQKV, a.FusedGateUp = true, true
		a.QKVBias, a.OBias, a.MLPBias = false, false, false
	},
	"olmo2": func(cfg *Config, a *arch) {
		a.NoPreNorm, a.PostNorm, a.QKNorm = true, true, qkNormAll
	},
	"gemma2": gemma,
	"gemma3_text": func(cfg *Config, a *arch) {
		gemma(cfg, a)
		a.QKNorm = qkNormHead
	},
	"granite": func(cfg *Config, a *arch) {
		a.EmbedScale = float32(cfg.EmbeddingMultiplier)
		a.ResidScale = float32(cfg.ResidualMultiplier)
		a.AttnScale = float32(cfg.AttentionMultiplier)
		a.LogitScale = float32(1 / cfg.LogitsScaling)
	},
}

// gemma is Gemma 2 and 3's block: (1+w) RMSNorms before and after both
// sublayers, embeddings scaled by √hidden, scores scaled by
// query_pre_attn_scalar^-½, optional soft-caps.
func gemma(cfg *Config, a *arch) {
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

// llamaArch is the block variant for cfg.
func llamaArch(cfg *Config) (arch, error) {
	a := arch{QKVBias: cfg.AttentionBias, OBias: cfg.AttentionBias, MLPBias: cfg.MLPBias}
	if f := ropeVariants[cfg.ModelType]; f != nil {
		f(cfg, &a)
	}
	switch cfg.HiddenAct {
	case "gelu_pytorch_tanh", "gelu_new":
		a.GeGLU = true
	}
	return a, nil
}

// llamaTargetAliases maps golora's short --targets names to the module names of
// the variant a: Phi-3's fused projections answer to several (PEFT has no
// finer grain: a LoRA on qkv_proj adapts q, k and v together).
func llamaTargetAliases(a arch) map[string]string {
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

// llamaNames are HF's state-dict names for the variant a (LlamaForCausalLM's
// when a is plain): the fused Phi-3 projections, the q/k norms, and the
// norm names of the pre-norm (Llama), sandwich (Gemma) and post-norm
// (OLMo 2) blocks.
func llamaNames(a arch) weightNames {
	return weightNames{
		Embed: "model.embed_tokens", FinalNorm: "model.norm", Head: "lm_head",
		Layer: func(l int) layerNames {
			p := fmt.Sprintf("model.layers.%d.", l)
			n := layerNames{
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

// decoderDefaults are the config-class defaults of transformers for the
// keys a family reads that a config.json may omit (save_pretrained writes
// them all; hand-written configs do not). They apply only to absent keys.
var decoderDefaults = map[string]func(c *Config){
	"gemma2": func(c *Config) {
		setInt(&c.HeadDim, 0, 256)
		c.defaultF(&c.QueryPreAttnScalar, 256)
		c.defaultCap(&c.AttnLogitSoftcapping, "attn_logit_softcapping", 50)
		c.defaultCap(&c.FinalLogitSoftcapping, "final_logit_softcapping", 30)
		c.defaultWindow(4096)
		c.defaultTie(true)
	},
	"gemma3_text": func(c *Config) {
		setInt(&c.HeadDim, 0, 256)
		c.defaultF(&c.QueryPreAttnScalar, 256)
		c.defaultF(&c.RopeLocalBaseFreq, 10000)
		if c.RopeTheta == 0 && isNull(c.RopeParameters) {
			c.RopeTheta = 1e6
		}
		c.defaultWindow(4096)
		c.defaultTie(true)
	},
	"smollm3": func(c *Config) {
		if c.RopeTheta == 0 && isNull(c.RopeParameters) {
			c.RopeTheta = 2e6
		}
		c.defaultTie(true)
	},
	"granite": func(c *Config) {
		c.defaultF(&c.EmbeddingMultiplier, 1)
		c.defaultF(&c.ResidualMultiplier, 1)
		c.defaultF(&c.LogitsScaling, 1)
		c.defaultF(&c.AttentionMultiplier, 1)
	},
}
