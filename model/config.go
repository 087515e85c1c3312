package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
)

// ErrUnsupportedModel is wrapped by every error about an architecture or a
// config option golora does not implement.
var ErrUnsupportedModel = errors.New("unsupported model")

// Config is a Hugging Face config.json. Field tags are the HF keys; unknown
// keys are ignored and kept (Raw) so a saved model round-trips them. After
// Normalize the family-neutral fields (HiddenSize, NumHiddenLayers, ...) are
// filled for every family, so model code reads only those.
type Config struct {
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures,omitempty"`
	VocabSize     int      `json:"vocab_size"`

	// Llama / Mistral / Qwen2 keys (and, after Normalize, every family).
	HiddenSize            int             `json:"hidden_size,omitempty"`
	IntermediateSize      int             `json:"intermediate_size,omitempty"`
	NumHiddenLayers       int             `json:"num_hidden_layers,omitempty"`
	NumAttentionHeads     int             `json:"num_attention_heads,omitempty"`
	NumKeyValueHeads      int             `json:"num_key_value_heads,omitempty"`
	HeadDim               int             `json:"head_dim,omitempty"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings,omitempty"`
	RopeTheta             float64         `json:"rope_theta,omitempty"`
	RopeParameters        json.RawMessage `json:"rope_parameters,omitempty"` // transformers 5
	RopeScaling           json.RawMessage `json:"rope_scaling,omitempty"`    // transformers 4
	RMSNormEps            float64         `json:"rms_norm_eps,omitempty"`
	HiddenAct             string          `json:"hidden_act,omitempty"`
	AttentionBias         bool            `json:"attention_bias,omitempty"`
	MLPBias               bool            `json:"mlp_bias,omitempty"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings,omitempty"`
	SlidingWindow         *int            `json:"sliding_window,omitempty"`
	UseSlidingWindow      *bool           `json:"use_sliding_window,omitempty"`
	MaxWindowLayers       *int            `json:"max_window_layers,omitempty"`
	LayerTypes            []string        `json:"layer_types,omitempty"`

	// Keys of the newer families (Gemma 2/3, Phi-3, SmolLM3, Granite).
	HiddenActivation              string   `json:"hidden_activation,omitempty"`
	QueryPreAttnScalar            float64  `json:"query_pre_attn_scalar,omitempty"`
	AttnLogitSoftcapping          *float64 `json:"attn_logit_softcapping,omitempty"`
	FinalLogitSoftcapping         *float64 `json:"final_logit_softcapping,omitempty"`
	SlidingWindowPattern          int      `json:"sliding_window_pattern,omitempty"`
	SlidingWindowPatternV5        int      `json:"_sliding_window_pattern,omitempty"`
	RopeLocalBaseFreq             float64  `json:"rope_local_base_freq,omitempty"`
	UseBidirectionalAttention     *bool    `json:"use_bidirectional_attention,omitempty"`
	OriginalMaxPositionEmbeddings int      `json:"original_max_position_embeddings,omitempty"`
	PartialRotaryFactor           *float64 `json:"partial_rotary_factor,omitempty"`
	NoRopeLayers                  []int    `json:"no_rope_layers,omitempty"`
	NoRopeLayerInterval           int      `json:"no_rope_layer_interval,omitempty"`
	EmbeddingMultiplier           float64  `json:"embedding_multiplier,omitempty"`
	ResidualMultiplier            float64  `json:"residual_multiplier,omitempty"`
	AttentionMultiplier           float64  `json:"attention_multiplier,omitempty"`
	LogitsScaling                 float64  `json:"logits_scaling,omitempty"`

	// rope is the rotary embedding after Normalize (of the full-attention
	// layers); RopeLocal, when set, that of the sliding-window layers
	// (Gemma 3's local base).
	rope      ropeSpec  `json:"-"`
	ropeLocal *ropeSpec `json:"-"`

	// GPT-2 keys.
	NEmbd              int     `json:"n_embd,omitempty"`
	NLayer             int     `json:"n_layer,omitempty"`
	NHead              int     `json:"n_head,omitempty"`
	NPositions         int     `json:"n_positions,omitempty"`
	NInner             *int    `json:"n_inner,omitempty"`
	LayerNormEpsilon   float64 `json:"layer_norm_epsilon,omitempty"`
	ActivationFunction string  `json:"activation_function,omitempty"`

	BOSTokenID TokenIDs `json:"bos_token_id,omitempty"`
	EOSTokenID TokenIDs `json:"eos_token_id,omitempty"`
	TorchDtype string   `json:"torch_dtype,omitempty"` // transformers < 4.56
	Dtype      string   `json:"dtype,omitempty"`       // newer transformers

	// Raw is the file's own key/value map (nil for configs built in code);
	// SaveHF writes it back with the sizes updated.
	Raw map[string]json.RawMessage `json:"-"`
}

// TokenIDs is a token id key that HF writes as a number, a list or null.
type TokenIDs []int

// UnmarshalJSON accepts 5, [5, 7] and null.
func (t *TokenIDs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = nil
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var v []int
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*t = v
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = TokenIDs{v}
	return nil
}

// MarshalJSON writes a single id as a number, as HF does.
func (t TokenIDs) MarshalJSON() ([]byte, error) {
	switch len(t) {
	case 0:
		return []byte("null"), nil
	case 1:
		return json.Marshal(t[0])
	}
	return json.Marshal([]int(t))
}

// ParseConfig decodes config.json bytes and applies Normalize. name is used
// in error messages (usually the file path).
func ParseConfig(data []byte, name string) (*Config, error) {
	c := new(Config)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := json.Unmarshal(data, &c.Raw); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := c.Normalize(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// ReadConfig reads and parses a config.json file.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, path)
}

// Normalize fills family defaults (those of transformers' config classes)
// and the family-neutral fields, then validates the result.
func (c *Config) Normalize() error {
	if c.ModelType == "" {
		return fmt.Errorf("%w: config has no model_type (expected one of %v)", ErrUnsupportedModel, FamilyNames())
	}
	f, err := familyOf(c)
	if err != nil {
		return err
	}
	if err := f.normalize(c); err != nil {
		return err
	}
	if c.HeadDim == 0 && c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	return c.Validate()
}

// Validate checks that the sizes describe a buildable model.
func (c *Config) Validate() error {
	pos := map[string]int{
		"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize,
		"num_hidden_layers": c.NumHiddenLayers, "num_attention_heads": c.NumAttentionHeads,
		"num_key_value_heads": c.NumKeyValueHeads, "head_dim": c.HeadDim,
		"max_position_embeddings": c.MaxPositionEmbeddings,
	}
	for _, k := range []string{"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings"} {
		if pos[k] <= 0 {
			return fmt.Errorf("config: %s must be positive, got %d", k, pos[k])
		}
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("config: num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.ModelType == "gpt2" && c.HeadDim*c.NumAttentionHeads != c.HiddenSize {
		return fmt.Errorf("config: n_embd %d is not a multiple of n_head %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.ModelType != "gpt2" && c.HeadDim%2 != 0 {
		return fmt.Errorf("config: head_dim %d must be even for RoPE", c.HeadDim)
	}
	// A negative epsilon lets 1/sqrt(mean(x²)+eps) divide by zero or
	// take the root of a negative number: NaNs from the first layer.
	// (rope_theta 0 means "unset" and is defaulted by ParseConfig.)
	for _, f := range []struct {
		name string
		v    float64
	}{{"rms_norm_eps", c.RMSNormEps}, {"layer_norm_epsilon", c.LayerNormEpsilon}, {"rope_theta", c.RopeTheta}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("config: %s must be a finite number >= 0, got %v", f.name, f.v)
		}
	}
	return nil
}

// Tied reports whether the output head shares the token embedding.
func (c *Config) Tied() bool { return c.TieWordEmbeddings != nil && *c.TieWordEmbeddings }

// NormEps is the epsilon of the family's normalisation layers.
func (c *Config) NormEps() float32 {
	if c.ModelType == "gpt2" {
		return float32(c.LayerNormEpsilon)
	}
	return float32(c.RMSNormEps)
}

// JSON renders the config for saving: the original keys (Raw) when there
// are any, with the family's own size keys overwritten from the struct.
func (c *Config) JSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range c.Raw {
		out[k] = v
	}
	set := func(k string, v any) { out[k] = v }
	set("model_type", c.ModelType)
	set("vocab_size", c.VocabSize)
	set("tie_word_embeddings", c.Tied())
	if c.ModelType == "gpt2" {
		set("n_embd", c.HiddenSize)
		set("n_layer", c.NumHiddenLayers)
		set("n_head", c.NumAttentionHeads)
		set("n_positions", c.MaxPositionEmbeddings)
		if c.IntermediateSize != 4*c.HiddenSize {
			set("n_inner", c.IntermediateSize)
		}
		set("layer_norm_epsilon", c.LayerNormEpsilon)
		set("activation_function", c.ActivationFunction)
		if _, ok := out["architectures"]; !ok {
			set("architectures", []string{"GPT2LMHeadModel"})
		}
	} else {
		set("hidden_size", c.HiddenSize)
		set("intermediate_size", c.IntermediateSize)
		set("num_hidden_layers", c.NumHiddenLayers)
		set("num_attention_heads", c.NumAttentionHeads)
		set("num_key_value_heads", c.NumKeyValueHeads)
		set("head_dim", c.HeadDim)
		set("max_position_embeddings", c.MaxPositionEmbeddings)
		set("rms_norm_eps", c.RMSNormEps)
		set("hidden_act", c.HiddenAct)
		if isNull(c.RopeParameters) {
			set("rope_theta", c.RopeTheta)
		}
		if c.ModelType == "llama" {
			set("attention_bias", c.AttentionBias)
			set("mlp_bias", c.MLPBias)
		}
		if _, ok := out["architectures"]; !ok {
			arch := map[string]string{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
				"qwen3": "Qwen3ForCausalLM", "gemma2": "Gemma2ForCausalLM", "gemma3_text": "Gemma3ForCausalLM", "phi3": "Phi3ForCausalLM",
				"olmo2": "Olmo2ForCausalLM", "smollm3": "SmolLM3ForCausalLM", "granite": "GraniteForCausalLM"}[c.ModelType]
			set("architectures", []string{arch})
		}
	}
	if len(c.BOSTokenID) > 0 {
		set("bos_token_id", c.BOSTokenID)
	}
	if len(c.EOSTokenID) > 0 {
		set("eos_token_id", c.EOSTokenID)
	}
	if _, ok := out["torch_dtype"]; !ok {
		if _, ok := out["dtype"]; !ok {
			set("torch_dtype", "float32")
		}
	}
	return json.MarshalIndent(out, "", "  ")
}

func setInt(dst *int, v, def int) {
	if *dst == 0 {
		*dst = v
	}
	if *dst == 0 {
		*dst = def
	}
}

func boolPtr(b bool) *bool { return &b }
