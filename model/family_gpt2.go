// GPT-2 (model_type gpt2) from Hugging Face checkpoints.
//
// Conventions: LayerNorm pre-norm blocks with learned absolute positions
// (wpe), a fused c_attn projection whose output splits [q | k | v], a GELU
// MLP (gelu_new, the tanh form, unless activation_function says "gelu"), and
// an output head tied to wte unless tie_word_embeddings is false. HF stores
// GPT-2's Conv1D weights [in, out]; they are transposed to nn.Linear's
// [out, in] on load and back on save. Checkpoints with or without the
// "transformer." prefix load alike; the attn.bias / attn.masked_bias
// causal-mask buffers some files carry are ignored.

package model

import (
	"fmt"
	"strings"
)

func init() {
	register("gpt2", family{normalize: normalizeGPT2, arch: gpt2Arch,
		names: func(arch) weightNames { return gpt2Names() }, fileNames: gpt2FileNames,
		targets: func(arch) map[string]string { return gpt2TargetAliases() }})
}

// gpt2Arch is the block variant for cfg.
func gpt2Arch(cfg *Config) (arch, error) {
	a := arch{LayerNorm: true, GELU: true, LearnedPos: true, FusedQKV: true,
		QKVBias: true, OBias: true, MLPBias: true, Conv1D: true}
	switch cfg.ActivationFunction {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "":
	case "gelu":
		a.GELUErf = true
	default:
		return a, fmt.Errorf("gpt2: %w: activation_function %q (expected gelu_new, gelu_pytorch_tanh or gelu)", ErrUnsupportedModel, cfg.ActivationFunction)
	}
	return a, nil
}

// gpt2TargetAliases maps golora's short --targets names to GPT-2's modules; q,
// k and v share the fused c_attn, and the token embedding is wte.
func gpt2TargetAliases() map[string]string {
	return map[string]string{"q": "attn.c_attn", "k": "attn.c_attn", "v": "attn.c_attn", "qkv": "attn.c_attn",
		"o": "attn.c_proj", "up": "mlp.c_fc", "down": "mlp.c_proj", "embed_tokens": "wte"}
}

// gpt2Names are HF's GPT2LMHeadModel module names (with "transformer.").
func gpt2Names() weightNames {
	return weightNames{
		Embed: "transformer.wte", Pos: "transformer.wpe", FinalNorm: "transformer.ln_f", Head: "lm_head",
		Layer: func(l int) layerNames {
			p := fmt.Sprintf("transformer.h.%d.", l)
			return layerNames{
				Norm1: p + "ln_1", Norm2: p + "ln_2",
				QKV: p + "attn.c_attn", O: p + "attn.c_proj",
				Fc: p + "mlp.c_fc", Proj: p + "mlp.c_proj",
			}
		},
	}
}

// gpt2FileNames maps canonical names to a checkpoint's: hub files such as
// "gpt2" omit the "transformer." prefix, fixtures and newer saves keep it.
// The head (lm_head) keeps its name either way.
func gpt2FileNames(src weightSource) func(string) string {
	prefixed := false
	for _, n := range src.Names() {
		if strings.HasPrefix(n, "transformer.") {
			prefixed = true
			break
		}
	}
	if prefixed {
		return nil
	}
	return func(n string) string { return strings.TrimPrefix(n, "transformer.") }
}

// normalizeGPT2 fills GPT2Config's defaults.
func normalizeGPT2(c *Config) error {
	// GPT2Config's attribute_map makes hidden_size etc. aliases of the
	// n_* keys, which win; intermediate_size, head_dim and hidden_act are
	// not GPT-2 keys (hub configs such as tiny-random-gpt2 carry stray
	// ones), so the MLP width is n_inner or 4·n_embd.
	setInt(&c.NEmbd, c.HiddenSize, 768)
	setInt(&c.NLayer, c.NumHiddenLayers, 12)
	setInt(&c.NHead, c.NumAttentionHeads, 12)
	setInt(&c.NPositions, c.MaxPositionEmbeddings, 1024)
	setInt(&c.VocabSize, 0, 50257)
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.MaxPositionEmbeddings = c.NEmbd, c.NLayer, c.NHead, c.NPositions
	c.NumKeyValueHeads = c.NumAttentionHeads
	c.IntermediateSize = 4 * c.HiddenSize
	if c.NInner != nil && *c.NInner > 0 {
		c.IntermediateSize = *c.NInner
	}
	c.HeadDim = 0
	if c.LayerNormEpsilon == 0 {
		c.LayerNormEpsilon = 1e-5
	}
	if c.ActivationFunction == "" {
		c.ActivationFunction = "gelu_new"
	}
	if c.TieWordEmbeddings == nil {
		c.TieWordEmbeddings = boolPtr(true)
	}
	return nil
}
