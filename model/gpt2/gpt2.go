// Package gpt2 builds GPT-2 (model_type gpt2) from Hugging Face checkpoints.
//
// Conventions: LayerNorm pre-norm blocks with learned absolute positions
// (wpe), a fused c_attn projection whose output splits [q | k | v], a GELU
// MLP (gelu_new, the tanh form, unless activation_function says "gelu"), and
// an output head tied to wte unless tie_word_embeddings is false. HF stores
// GPT-2's Conv1D weights [in, out]; they are transposed to nn.Linear's
// [out, in] on load and back on save. Checkpoints with or without the
// "transformer." prefix load alike; the attn.bias / attn.masked_bias
// causal-mask buffers some files carry are ignored.
package gpt2

import (
	"fmt"
	"strings"

	"github.com/golora/golora/model/internal/core"
)

// Arch is the block variant for cfg.
func Arch(cfg *core.Config) (core.Arch, error) {
	a := core.Arch{LayerNorm: true, GELU: true, LearnedPos: true, FusedQKV: true,
		QKVBias: true, OBias: true, MLPBias: true, Conv1D: true}
	switch cfg.ActivationFunction {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "":
	case "gelu":
		a.GELUErf = true
	default:
		return a, fmt.Errorf("gpt2: %w: activation_function %q (expected gelu_new, gelu_pytorch_tanh or gelu)", core.ErrUnsupportedModel, cfg.ActivationFunction)
	}
	return a, nil
}

// TargetAliases maps golora's short --targets names to GPT-2's modules; q,
// k and v share the fused c_attn, and the token embedding is wte.
func TargetAliases() map[string]string {
	return map[string]string{"q": "attn.c_attn", "k": "attn.c_attn", "v": "attn.c_attn", "qkv": "attn.c_attn",
		"o": "attn.c_proj", "up": "mlp.c_fc", "down": "mlp.c_proj", "embed_tokens": "wte"}
}

// Names are HF's GPT2LMHeadModel module names (with "transformer.").
func Names() core.Names {
	return core.Names{
		Embed: "transformer.wte", Pos: "transformer.wpe", FinalNorm: "transformer.ln_f", Head: "lm_head",
		Layer: func(l int) core.LayerNames {
			p := fmt.Sprintf("transformer.h.%d.", l)
			return core.LayerNames{
				Norm1: p + "ln_1", Norm2: p + "ln_2",
				QKV: p + "attn.c_attn", O: p + "attn.c_proj",
				Fc: p + "mlp.c_fc", Proj: p + "mlp.c_proj",
			}
		},
	}
}

// New allocates a model of cfg's shape with unit norms and zero matrices.
func New(cfg *core.Config) (*core.Transformer, error) {
	if cfg.ModelType != "gpt2" {
		return nil, fmt.Errorf("gpt2: %w: model_type %q", core.ErrUnsupportedModel, cfg.ModelType)
	}
	a, err := Arch(cfg)
	if err != nil {
		return nil, err
	}
	return core.New(cfg, a, Names()), nil
}

// FileNames maps canonical names to a checkpoint's: hub files such as
// "gpt2" omit the "transformer." prefix, fixtures and newer saves keep it.
// The head (lm_head) keeps its name either way.
func FileNames(src core.Source) func(string) string {
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

// Load builds the model and reads its weights from src; what names the
// checkpoint in errors.
func Load(cfg *core.Config, src core.Source, what string) (*core.Transformer, error) {
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	fn := FileNames(src)
	if err := m.LoadWeights(src, what, fn); err != nil {
		return nil, err
	}
	m.SetFileNames(fn)
	return m, nil
}
