package llama2c

import (
	"fmt"

	"github.com/golora/golora/tensor"
)

// LlamaConfig holds the config.json fields of the equivalent Hugging Face
// LlamaForCausalLM; json.Marshal of it is a valid config.json.
type LlamaConfig struct {
	Architectures         []string `json:"architectures"`
	ModelType             string   `json:"model_type"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	VocabSize             int      `json:"vocab_size"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RopeTheta             float64  `json:"rope_theta"`
	TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
	HiddenAct             string   `json:"hidden_act"`
	HeadDim               int      `json:"head_dim"`
	BOSTokenID            int      `json:"bos_token_id"`
	EOSTokenID            int      `json:"eos_token_id"`
	TorchDType            string   `json:"torch_dtype"`
}

// HFConfig returns the HF config of the checkpoint. llama2.c hard-codes
// RMSNorm eps 1e-5, RoPE theta 10000, SiLU, BOS 1 and EOS 2 (its
// SentencePiece tokenizers), so those are fixed here.
func (c Config) HFConfig() LlamaConfig {
	return LlamaConfig{
		Architectures:         []string{"LlamaForCausalLM"},
		ModelType:             "llama",
		HiddenSize:            c.Dim,
		IntermediateSize:      c.HiddenDim,
		NumAttentionHeads:     c.NHeads,
		NumKeyValueHeads:      c.NKVHeads,
		NumHiddenLayers:       c.NLayers,
		VocabSize:             c.VocabSize,
		MaxPositionEmbeddings: c.SeqLen,
		RMSNormEps:            1e-5,
		RopeTheta:             10000,
		TieWordEmbeddings:     c.SharedClassifier,
		HiddenAct:             "silu",
		HeadDim:               c.HeadDim(),
		BOSTokenID:            1,
		EOSTokenID:            2,
		TorchDType:            "float32",
	}
}

// HFTensors converts the weights to Hugging Face Llama names and the
// rotate_half RoPE convention (Wq and Wk rows permuted per head, into new
// tensors). The others are views sharing ck's memory, so a loader holds the
// weights once. lm_head.weight is present only when the classifier is
// unshared (HF omits it when tie_word_embeddings is true).
func (ck *Checkpoint) HFTensors() map[string]*tensor.Tensor {
	c := ck.Config
	D, hd := c.Dim, c.HeadDim()
	m := map[string]*tensor.Tensor{
		"model.embed_tokens.weight": ck.TokenEmbedding,
		"model.norm.weight":         ck.RMSFinal,
	}
	for l := range c.NLayers {
		p := fmt.Sprintf("model.layers.%d.", l)
		m[p+"input_layernorm.weight"] = ck.RMSAtt.Index(l)
		m[p+"self_attn.q_proj.weight"] = tensor.From(PermuteToHF(ck.Wq.Index(l).Data, c.NHeads, hd, D), c.NHeads*hd, D)
		m[p+"self_attn.k_proj.weight"] = tensor.From(PermuteToHF(ck.Wk.Index(l).Data, c.NKVHeads, hd, D), c.NKVHeads*hd, D)
		m[p+"self_attn.v_proj.weight"] = ck.Wv.Index(l)
		m[p+"self_attn.o_proj.weight"] = ck.Wo.Index(l)
		m[p+"post_attention_layernorm.weight"] = ck.RMSFFN.Index(l)
		m[p+"mlp.gate_proj.weight"] = ck.W1.Index(l)
		m[p+"mlp.down_proj.weight"] = ck.W2.Index(l)
		m[p+"mlp.up_proj.weight"] = ck.W3.Index(l)
	}
	if !c.SharedClassifier {
		m["lm_head.weight"] = ck.Wcls
	}
	return m
}

// FromHF builds a checkpoint from HF Llama tensors (the inverse of
// HFTensors), e.g. to export a fine-tuned model for llama2.c's run.c. The
// classifier is shared when lm_head.weight is absent.
func FromHF(c Config, m map[string]*tensor.Tensor) (*Checkpoint, error) {
	_, hasHead := m["lm_head.weight"]
	c.SharedClassifier = !hasHead
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	D, H, L, V, KV, hd := c.Dim, c.HiddenDim, c.NLayers, c.VocabSize, c.KVDim(), c.HeadDim()
	ck := &Checkpoint{Config: c}
	var missing error
	get := func(name string, shape ...int) []float32 {
		t, ok := m[name]
		if !ok || !tensor.SameShape(t.Shape, shape) {
			if missing == nil {
				missing = fmt.Errorf("llama2c: %w: %s missing or not of shape %v", ErrHeader, name, shape)
			}
			return make([]float32, tensor.Numel(shape))
		}
		return t.Data
	}
	stack := func(suffix string, perm func([]float32) []float32, shape ...int) *tensor.Tensor {
		out := tensor.New(append([]int{L}, shape...)...)
		n := tensor.Numel(shape)
		for l := range L {
			d := get(fmt.Sprintf("model.layers.%d.%s", l, suffix), shape...)
			if perm != nil {
				d = perm(d)
			}
			copy(out.Data[l*n:], d)
		}
		return out
	}
	ck.TokenEmbedding = tensor.From(append([]float32(nil), get("model.embed_tokens.weight", V, D)...), V, D)
	ck.RMSAtt = stack("input_layernorm.weight", nil, D)
	ck.Wq = stack("self_attn.q_proj.weight", func(d []float32) []float32 { return PermuteFromHF(d, c.NHeads, hd, D) }, D, D)
	ck.Wk = stack("self_attn.k_proj.weight", func(d []float32) []float32 { return PermuteFromHF(d, c.NKVHeads, hd, D) }, KV, D)
	ck.Wv = stack("self_attn.v_proj.weight", nil, KV, D)
	ck.Wo = stack("self_attn.o_proj.weight", nil, D, D)
	ck.RMSFFN = stack("post_attention_layernorm.weight", nil, D)
	ck.W1 = stack("mlp.gate_proj.weight", nil, H, D)
	ck.W2 = stack("mlp.down_proj.weight", nil, D, H)
	ck.W3 = stack("mlp.up_proj.weight", nil, H, D)
	ck.RMSFinal = tensor.From(append([]float32(nil), get("model.norm.weight", D)...), D)
	if hasHead {
		ck.Wcls = tensor.From(append([]float32(nil), get("lm_head.weight", V, D)...), V, D)
	}
	if missing != nil {
		return nil, missing
	}
	return ck, nil
}

// HFRow maps a row of a projection in rotate_half (HF) order to the row
// holding the same weights in interleaved (Meta/llama2.c) order: HF row
// h·D + half·(D/2) + j is Meta row h·D + 2j + half, D the head size.
func HFRow(hfRow, headDim int) int {
	h, r := hfRow/headDim, hfRow%headDim
	half, j := r/(headDim/2), r%(headDim/2)
	return h*headDim + 2*j + half
}

// PermuteToHF reorders the rows of a [nHeads·headDim, cols] projection from
// interleaved to rotate_half order, returning a new slice.
func PermuteToHF(w []float32, nHeads, headDim, cols int) []float32 {
	out := make([]float32, nHeads*headDim*cols)
	for r := range nHeads * headDim {
		m := HFRow(r, headDim)
		copy(out[r*cols:(r+1)*cols], w[m*cols:(m+1)*cols])
	}
	return out
}

// PermuteFromHF is the inverse of PermuteToHF.
func PermuteFromHF(w []float32, nHeads, headDim, cols int) []float32 {
	out := make([]float32, nHeads*headDim*cols)
	for r := range nHeads * headDim {
		m := HFRow(r, headDim)
		copy(out[m*cols:(m+1)*cols], w[r*cols:(r+1)*cols])
	}
	return out
}

// HFShapes lists the names and shapes HFTensors would produce, without
// reading any weights (for inspect on large checkpoints).
func (c Config) HFShapes() map[string][]int {
	D, H, KV, V := c.Dim, c.HiddenDim, c.KVDim(), c.VocabSize
	m := map[string][]int{"model.embed_tokens.weight": {V, D}, "model.norm.weight": {D}}
	for l := range c.NLayers {
		p := fmt.Sprintf("model.layers.%d.", l)
		m[p+"input_layernorm.weight"] = []int{D}
		m[p+"self_attn.q_proj.weight"] = []int{D, D}
		m[p+"self_attn.k_proj.weight"] = []int{KV, D}
		m[p+"self_attn.v_proj.weight"] = []int{KV, D}
		m[p+"self_attn.o_proj.weight"] = []int{D, D}
		m[p+"post_attention_layernorm.weight"] = []int{D}
		m[p+"mlp.gate_proj.weight"] = []int{H, D}
		m[p+"mlp.down_proj.weight"] = []int{D, H}
		m[p+"mlp.up_proj.weight"] = []int{H, D}
	}
	if !c.SharedClassifier {
		m["lm_head.weight"] = []int{V, D}
	}
	return m
}
