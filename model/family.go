package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
)

// family is one model_type: how its config.json is completed, the block
// variant and checkpoint names it implies, and its --targets aliases. Each
// family registers itself from its own file (family_llama.go,
// family_gpt2.go), so adding one touches one file.
type family struct {
	// normalize fills the family's config defaults (transformers' config
	// class values for keys a config.json may omit) and validates them.
	normalize func(c *Config) error
	// arch is the block variant cfg implies.
	arch func(cfg *Config) (arch, error)
	// names are the checkpoint's state-dict names of variant a.
	names func(a arch) weightNames
	// fileNames, when set, maps canonical names to those of src.
	fileNames func(src weightSource) func(string) string
	// targets maps golora's short --targets names to module names.
	targets func(a arch) map[string]string
}

// families maps HF model_type to its family; register fills it.
var families = map[string]family{}

// register adds model_type t; called from the families' init functions.
func register(t string, f family) {
	if _, dup := families[t]; dup {
		panic("model: family " + t + " registered twice")
	}
	families[t] = f
}

// familyOf returns the family of cfg's model_type, or an error naming the
// supported ones.
func familyOf(cfg *Config) (family, error) {
	f, ok := families[cfg.ModelType]
	if !ok {
		return f, fmt.Errorf("%w: model_type %q (expected one of %v)", ErrUnsupportedModel, cfg.ModelType, FamilyNames())
	}
	return f, nil
}

// archOf returns cfg's family and the block variant cfg implies.
func archOf(cfg *Config) (family, arch, error) {
	f, err := familyOf(cfg)
	if err != nil {
		return f, arch{}, err
	}
	a, err := f.arch(cfg)
	return f, a, err
}

// newModel allocates a model of cfg's shape with unit norms and zero
// matrices.
func newModel(cfg *Config) (*Transformer, error) {
	f, a, err := archOf(cfg)
	if err != nil {
		return nil, err
	}
	return newTransformer(cfg, a, f.names(a)), nil
}

// loadModel builds cfg's model and reads its weights from src; what names
// the checkpoint in errors.
func loadModel(cfg *Config, src weightSource, what string) (*Transformer, error) {
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	return m.load(src, what)
}

// load reads m's weights from src (see loadModel).
func (m *Transformer) load(src weightSource, what string) (*Transformer, error) {
	cfg := m.cfg
	var fn func(string) string
	if f := families[cfg.ModelType]; f.fileNames != nil {
		fn = f.fileNames(src)
	}
	if err := m.loadWeights(src, what, fn); err != nil {
		return nil, err
	}
	m.setFileNames(fn)
	return m, nil
}

// FamilyNames lists the supported model_type values, sorted.
func FamilyNames() []string { return slices.Sorted(maps.Keys(families)) }

// What follows is the RoPE decoders' config normalisation
// (family_llama.go registers it): defaults, then the per-layer plan.

func (c *Config) defaultF(f *float64, v float64) {
	if *f == 0 {
		*f = v
	}
}

// defaultCap sets a soft-cap the file does not mention (an explicit null
// turns it off).
func (c *Config) defaultCap(f **float64, key string, v float64) {
	if _, ok := c.Raw[key]; !ok && *f == nil && c.Raw != nil {
		*f = &v
	}
}

func (c *Config) defaultWindow(v int) {
	if _, ok := c.Raw["sliding_window"]; !ok && c.SlidingWindow == nil && c.Raw != nil {
		c.SlidingWindow = &v
	}
}

func (c *Config) defaultTie(v bool) {
	if c.TieWordEmbeddings == nil {
		c.TieWordEmbeddings = boolPtr(v)
	}
}

// gemma reports the Gemma families ((1+w) norms, scaled embeddings, ...).
func (c *Config) gemma() bool { return c.ModelType == "gemma2" || c.ModelType == "gemma3_text" }

// normalizeDecoder fills the defaults of the RoPE decoder families and
// parses the per-layer plan: each layer's attention type (full or sliding
// window) and rotary embedding.
func (c *Config) normalizeDecoder() error {
	if f := decoderDefaults[c.ModelType]; f != nil {
		f(c)
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	if c.gemma() && c.HiddenActivation != "" {
		c.HiddenAct = c.HiddenActivation // Gemma's key; hidden_act is its legacy one
	}
	if c.HiddenAct == "" {
		c.HiddenAct = "silu"
		if c.gemma() {
			c.HiddenAct = "gelu_pytorch_tanh"
		}
	}
	if c.TieWordEmbeddings == nil {
		c.TieWordEmbeddings = boolPtr(false)
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = 2048
	}
	if c.HeadDim == 0 && c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	switch c.HiddenAct {
	case "silu", "swish", "gelu_pytorch_tanh", "gelu_new":
	default:
		return fmt.Errorf("%w: hidden_act %q (silu and gelu_pytorch_tanh are implemented for %s)", ErrUnsupportedModel, c.HiddenAct, c.ModelType)
	}
	if c.UseBidirectionalAttention != nil && *c.UseBidirectionalAttention {
		return fmt.Errorf("%w: use_bidirectional_attention true (only causal attention is implemented)", ErrUnsupportedModel)
	}
	if err := c.parseRopes(); err != nil {
		return err
	}
	if err := c.parseLayers(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"attn_logit_softcapping", c.AttnLogitSoftcapping}, {"final_logit_softcapping", c.FinalLogitSoftcapping}} {
		if f.v != nil && (!(*f.v > 0) || math.IsInf(*f.v, 0)) {
			return fmt.Errorf("config: %s must be a positive number or null, got %v", f.name, *f.v)
		}
	}
	if c.ModelType == "granite" && !(c.LogitsScaling > 0) {
		return fmt.Errorf("config: logits_scaling must be positive, got %v", c.LogitsScaling)
	}
	return nil
}

// parseRopes reads rope_parameters (transformers 5: one object, or one per
// attention type) or rope_theta + rope_scaling (transformers 4; Gemma 3's
// local layers use rope_local_base_freq unscaled).
func (c *Config) parseRopes() error {
	c.ropeLocal = nil
	if !isNull(c.RopeParameters) {
		var nested map[string]json.RawMessage
		if err := json.Unmarshal(c.RopeParameters, &nested); err != nil {
			return fmt.Errorf("rope_parameters: %w", err)
		}
		_, full := nested["full_attention"]
		_, local := nested["sliding_attention"]
		if full || local {
			for k := range nested {
				if k != "full_attention" && k != "sliding_attention" {
					return fmt.Errorf("%w: rope_parameters.%s (expected full_attention and sliding_attention)", ErrUnsupportedModel, k)
				}
			}
			if !full {
				return fmt.Errorf("config: rope_parameters has sliding_attention but no full_attention")
			}
			r, err := parseRope(nested["full_attention"], "rope_parameters.full_attention")
			if err != nil {
				return err
			}
			c.rope = r
			if local {
				l, err := parseRope(nested["sliding_attention"], "rope_parameters.sliding_attention")
				if err != nil {
					return err
				}
				c.ropeLocal = &l
			}
		} else {
			r, err := parseRope(c.RopeParameters, "rope_parameters")
			if err != nil {
				return err
			}
			c.rope = r
		}
	} else {
		c.rope = ropeSpec{Type: "default"}
		if !isNull(c.RopeScaling) {
			r, err := parseRope(c.RopeScaling, "rope_scaling")
			if err != nil {
				return err
			}
			c.rope = r
		}
		c.rope.Theta = c.RopeTheta
		if c.ModelType == "gemma3_text" {
			c.ropeLocal = &ropeSpec{Type: "default", Theta: c.RopeLocalBaseFreq}
		}
	}
	if c.rope.Theta == 0 {
		c.rope.Theta = c.RopeTheta
	}
	if c.rope.Theta == 0 {
		c.rope.Theta = 10000
	}
	c.RopeTheta = c.rope.Theta
	if c.rope.PartialRotary == nil {
		c.rope.PartialRotary = c.PartialRotaryFactor // Phi-3 keeps it at the top level in transformers 4
	}
	for _, r := range []struct {
		spec *ropeSpec
		key  string
	}{{&c.rope, "rope_parameters"}, {c.ropeLocal, "rope_parameters.sliding_attention"}} {
		if r.spec == nil {
			continue
		}
		if err := r.spec.check(r.key); err != nil {
			return err
		}
		rd := r.spec.RotaryDim(c.HeadDim)
		if rd < 2 || rd%2 != 0 {
			return fmt.Errorf("config: %s: head_dim %d × partial_rotary_factor gives %d rotary dimensions (need an even number >= 2)", r.key, c.HeadDim, rd)
		}
		if r.spec.Type == "longrope" && (len(r.spec.ShortFactor) != rd/2 || len(r.spec.LongFactor) != rd/2) {
			return fmt.Errorf("config: %s: short_factor and long_factor need head_dim/2 = %d entries (of the rotary dimensions), got %d and %d", r.key, rd/2, len(r.spec.ShortFactor), len(r.spec.LongFactor))
		}
	}
	return nil
}

// maxLayers bounds num_hidden_layers (the largest models have a few
// hundred), so a hostile config.json cannot allocate a plan per layer.
const maxLayers = 1 << 16

// parseLayers fills LayerTypes (one per layer) as transformers derives it
// when the file has none, and checks NoRopeLayers.
func (c *Config) parseLayers() error {
	L := c.NumHiddenLayers
	if L > maxLayers { // the plan below is allocated before the checkpoint's size is checked
		return fmt.Errorf("config: num_hidden_layers %d: more than %d layers", L, maxLayers)
	}
	window := c.SlidingWindow != nil && *c.SlidingWindow > 0
	switch c.ModelType {
	case "qwen2", "qwen3", "smollm3":
		// sliding_window counts only with use_sliding_window, from layer
		// max_window_layers on.
		window = window && c.UseSlidingWindow != nil && *c.UseSlidingWindow
		if !window {
			c.SlidingWindow = nil
		}
	case "llama", "olmo2", "granite":
		c.SlidingWindow = nil // not read by these families
		window = false
	}
	if len(c.LayerTypes) == 0 && L > 0 {
		c.LayerTypes = make([]string, L)
		for l := range c.LayerTypes {
			sliding := false
			switch c.ModelType {
			case "mistral", "phi3":
				sliding = window
			case "qwen2", "qwen3", "smollm3":
				sliding = window && (c.MaxWindowLayers == nil || l >= *c.MaxWindowLayers)
			case "gemma2":
				sliding = (l+1)%2 != 0
			case "gemma3_text":
				p := c.SlidingWindowPatternV5
				if p == 0 {
					p = c.SlidingWindowPattern
				}
				if p == 0 {
					p = 6
				}
				sliding = (l+1)%p != 0
			}
			c.LayerTypes[l] = "full_attention"
			if sliding {
				c.LayerTypes[l] = "sliding_attention"
			}
		}
	}
	if len(c.LayerTypes) != L {
		return fmt.Errorf("config: layer_types has %d entries for %d layers", len(c.LayerTypes), L)
	}
	for l, t := range c.LayerTypes {
		switch t {
		case "full_attention":
		case "sliding_attention":
			if c.ModelType == "llama" || c.ModelType == "olmo2" || c.ModelType == "granite" {
				return fmt.Errorf("%w: layer_types[%d] %q for %s", ErrUnsupportedModel, l, t, c.ModelType)
			}
		default:
			return fmt.Errorf("%w: layer_types[%d] %q (expected full_attention or sliding_attention)", ErrUnsupportedModel, l, t)
		}
	}
	if c.ModelType == "smollm3" && len(c.NoRopeLayers) == 0 && L > 0 {
		iv := c.NoRopeLayerInterval
		if iv == 0 {
			iv = 4
		}
		c.NoRopeLayers = make([]int, L)
		for l := range c.NoRopeLayers {
			if (l+1)%iv != 0 {
				c.NoRopeLayers[l] = 1
			}
		}
	}
	if len(c.NoRopeLayers) > 0 {
		if c.ModelType != "smollm3" {
			return fmt.Errorf("%w: no_rope_layers for %s", ErrUnsupportedModel, c.ModelType)
		}
		if len(c.NoRopeLayers) != L {
			return fmt.Errorf("config: no_rope_layers has %d entries for %d layers", len(c.NoRopeLayers), L)
		}
	}
	return nil
}

// Window is layer l's sliding window (0: full causal attention).
func (c *Config) Window(l int) int {
	if l < len(c.LayerTypes) && c.LayerTypes[l] == "sliding_attention" && c.SlidingWindow != nil {
		return *c.SlidingWindow
	}
	return 0
}

// layerRope is layer l's rotary embedding; nil for SmolLM3's layers
// without one (no_rope_layers[l] == 0) and for GPT-2.
func (c *Config) layerRope(l int) *ropeSpec {
	if c.ModelType == "gpt2" {
		return nil
	}
	if l < len(c.NoRopeLayers) && c.NoRopeLayers[l] == 0 {
		return nil
	}
	if c.ropeLocal != nil && l < len(c.LayerTypes) && c.LayerTypes[l] == "sliding_attention" {
		return c.ropeLocal
	}
	if c.rope.Type == "" { // a config built in code, not normalised
		c.rope = ropeSpec{Type: "default", Theta: c.RopeTheta}
		if c.rope.Theta == 0 {
			c.rope.Theta = 10000
		}
	}
	return &c.rope
}
