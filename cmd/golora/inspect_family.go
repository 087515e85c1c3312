package main

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
)

// familySettings are the config.json settings that set one model family's
// maths apart from plain Llama. They are read as plain config keys, in both
// the transformers 4.x layout (rope_scaling, rope_theta,
// rope_local_base_freq, sliding_window_pattern) and the 5.x one
// (rope_parameters, possibly per layer type, and layer_types).
type familySettings struct {
	Rope []ropeSummary `json:"rope,omitempty"`

	// SlidingWindow is the attention window in tokens of the layers listed
	// in SlidingLayers (0: no layer has one). SlidingOff says why a
	// configured window is not used (Qwen's use_sliding_window false).
	SlidingWindow int    `json:"sliding_window,omitempty"`
	SlidingLayers []int  `json:"sliding_window_layers,omitempty"`
	SlidingOff    string `json:"sliding_window_off,omitempty"`

	AttnSoftcap        float64 `json:"attn_logit_softcapping,omitempty"`
	FinalSoftcap       float64 `json:"final_logit_softcapping,omitempty"`
	QueryPreAttnScalar float64 `json:"query_pre_attn_scalar,omitempty"`

	// Granite's multipliers.
	EmbeddingMultiplier float64 `json:"embedding_multiplier,omitempty"`
	ResidualMultiplier  float64 `json:"residual_multiplier,omitempty"`
	AttentionMultiplier float64 `json:"attention_multiplier,omitempty"`
	LogitsScaling       float64 `json:"logits_scaling,omitempty"`

	// QKNorm is "per head" (Qwen3, Gemma 3: RMSNorm over head_dim) or
	// "whole projection" (OLMo 2: over heads·head_dim); from the weights
	// when there are any, else from model_type.
	QKNorm string `json:"qk_norm,omitempty"`
	// NoRopeLayers are the layers that skip RoPE (SmolLM3).
	NoRopeLayers []int `json:"no_rope_layers,omitempty"`
	// Fused lists fused projections in the weights (Phi-3's qkv_proj and
	// gate_up_proj), the module names PEFT targets.
	Fused []string `json:"fused_projections,omitempty"`
}

// ropeSummary is the rotary embedding of all layers (Layers "") or of one
// layer type (Gemma 3: "full_attention", "sliding_attention").
type ropeSummary struct {
	Layers string         `json:"layers,omitempty"`
	Type   string         `json:"rope_type"`
	Theta  float64        `json:"rope_theta,omitempty"`
	Params map[string]any `json:"params,omitempty"` // factor, low_freq_factor, short_factor, ...
}

// inspectMaxLayers bounds the per-layer lists a hostile num_hidden_layers
// could make huge; real models have a few hundred layers at most.
const inspectMaxLayers = 1 << 16

func layersOf(a *archSummary) int { return min(a.NumLayers, inspectMaxLayers) }

// qkNormByType is the q/k norm of families whose config does not say it.
var qkNormByType = map[string]string{
	"qwen3": "per head", "qwen3_moe": "per head", "gemma3": "per head", "gemma3_text": "per head",
	"olmo2": "whole projection",
}

func inspectFamily(cfg map[string]any, a *archSummary) *familySettings {
	f := &familySettings{Rope: inspectRope(cfg)}
	num := func(k string) float64 { v, _ := cfg[k].(float64); return v }
	f.AttnSoftcap, f.FinalSoftcap = num("attn_logit_softcapping"), num("final_logit_softcapping")
	f.QueryPreAttnScalar = num("query_pre_attn_scalar")
	f.EmbeddingMultiplier, f.ResidualMultiplier = num("embedding_multiplier"), num("residual_multiplier")
	f.AttentionMultiplier, f.LogitsScaling = num("attention_multiplier"), num("logits_scaling")
	f.QKNorm = qkNormByType[a.ModelType]
	inspectWindow(cfg, a, f)

	// SmolLM3: no_rope_layers[i] is 1 where layer i uses RoPE; without the
	// list every no_rope_layer_interval-th layer skips it.
	if l, ok := cfg["no_rope_layers"].([]any); ok {
		for i, v := range l {
			if x, _ := v.(float64); x == 0 {
				f.NoRopeLayers = append(f.NoRopeLayers, i)
			}
		}
	} else if n, ok := inspectInt(cfg, "no_rope_layer_interval"); ok && n > 0 {
		for i := range layersOf(a) {
			if (i+1)%n == 0 {
				f.NoRopeLayers = append(f.NoRopeLayers, i)
			}
		}
	}
	if len(f.Rope) > 0 {
		a.RopeTheta = f.Rope[0].Theta
		for _, r := range f.Rope {
			if r.Layers == "full_attention" {
				a.RopeTheta = r.Theta
			}
		}
	}
	if f.plainRope() {
		g := *f
		g.Rope = nil
		if reflect.DeepEqual(g, familySettings{}) {
			return nil // a plain Llama-like model: nothing to add
		}
	}
	return f
}

// plainRope reports whether RoPE is one unscaled default for all layers
// (which "rope theta" already shows).
func (f *familySettings) plainRope() bool {
	return len(f.Rope) == 0 || len(f.Rope) == 1 && f.Rope[0].Layers == "" && f.Rope[0].Type == "default" && len(f.Rope[0].Params) == 0
}

// inspectRope reads rope_parameters (5.x: one set, or one per layer type)
// or rope_theta + rope_scaling (+ Gemma 3's rope_local_base_freq for its
// sliding layers, which transformers 4.x leaves unscaled).
func inspectRope(cfg map[string]any) []ropeSummary {
	one := func(m map[string]any, layers string) ropeSummary {
		r := ropeSummary{Layers: layers, Type: "default", Params: map[string]any{}}
		for k, v := range m {
			switch k {
			case "rope_type", "type":
				if s, ok := v.(string); ok {
					r.Type = s
				}
			case "rope_theta":
				r.Theta, _ = v.(float64)
			default:
				if v != nil {
					r.Params[k] = v
				}
			}
		}
		// Phi-3 keeps original_max_position_embeddings beside the scaling.
		if _, ok := r.Params["original_max_position_embeddings"]; !ok && r.Type != "default" {
			if v, ok := cfg["original_max_position_embeddings"].(float64); ok {
				r.Params["original_max_position_embeddings"] = v
			}
		}
		if len(r.Params) == 0 {
			r.Params = nil
		}
		return r
	}
	if rp, ok := cfg["rope_parameters"].(map[string]any); ok {
		var out []ropeSummary
		for _, k := range sortedKeys(rp) {
			if sub, ok := rp[k].(map[string]any); ok {
				out = append(out, one(sub, k))
			}
		}
		if len(out) > 0 {
			return out
		}
		return []ropeSummary{one(rp, "")}
	}
	theta, hasTheta := cfg["rope_theta"].(float64)
	scaling, _ := cfg["rope_scaling"].(map[string]any)
	if !hasTheta && scaling == nil {
		return nil
	}
	m := map[string]any{"rope_theta": theta}
	for k, v := range scaling {
		m[k] = v
	}
	if p, ok := cfg["partial_rotary_factor"].(float64); ok {
		m["partial_rotary_factor"] = p
	}
	if local, ok := cfg["rope_local_base_freq"].(float64); ok {
		return []ropeSummary{one(m, "full_attention"), one(map[string]any{"rope_theta": local}, "sliding_attention")}
	}
	return []ropeSummary{one(m, "")}
}

// inspectWindow works out which layers have a sliding window, as
// transformers does for each family.
func inspectWindow(cfg map[string]any, a *archSummary, f *familySettings) {
	w, _ := inspectInt(cfg, "sliding_window")
	if w <= 0 {
		return
	}
	var sliding []int
	if types, ok := cfg["layer_types"].([]any); ok {
		for i, t := range types {
			if t == "sliding_attention" {
				sliding = append(sliding, i)
			}
		}
	} else {
		use, hasUse := cfg["use_sliding_window"].(bool)
		switch {
		case hasUse && !use:
			f.SlidingOff = fmt.Sprintf("sliding_window %d is set but use_sliding_window is false", w)
			return
		case a.ModelType == "gemma2": // even layers slide
			for i := 0; i < layersOf(a); i += 2 {
				sliding = append(sliding, i)
			}
		case a.ModelType == "gemma3" || a.ModelType == "gemma3_text":
			p, ok := inspectInt(cfg, "sliding_window_pattern", "_sliding_window_pattern")
			if !ok {
				p = 6
			}
			for i := range layersOf(a) {
				if p <= 0 || (i+1)%p != 0 {
					sliding = append(sliding, i)
				}
			}
		case hasUse: // Qwen2/Qwen3: layers from max_window_layers on
			from, ok := inspectInt(cfg, "max_window_layers")
			if !ok {
				from = 28
			}
			for i := from; i < layersOf(a); i++ {
				sliding = append(sliding, i)
			}
		default: // Mistral: every layer
			for i := range layersOf(a) {
				sliding = append(sliding, i)
			}
		}
	}
	if len(sliding) > 0 {
		f.SlidingWindow, f.SlidingLayers = w, sliding
	} else {
		f.SlidingOff = fmt.Sprintf("sliding_window %d is set but no layer uses it", w)
	}
}

// fromTensors sets what the weights show: QKNorm from the shape of layer
// 0's q_norm weight, and the fused projections.
func (f *familySettings) fromTensors(tensors []tensorSummary, headDim int) {
	for _, t := range tensors {
		switch {
		case strings.HasSuffix(t.Name, "layers.0.self_attn.q_norm.weight") && len(t.Shape) == 1:
			f.QKNorm = "whole projection"
			if t.Shape[0] == headDim {
				f.QKNorm = "per head"
			}
		case strings.HasSuffix(t.Name, "layers.0.self_attn.qkv_proj.weight"):
			f.Fused = append(f.Fused, "qkv_proj")
		case strings.HasSuffix(t.Name, "layers.0.mlp.gate_up_proj.weight"):
			f.Fused = append(f.Fused, "gate_up_proj")
		}
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// print writes the settings as lines of inspect's table.
func (f *familySettings) print(w io.Writer, numLayers int) {
	for _, r := range f.Rope {
		if f.plainRope() {
			break
		}
		label := "rope"
		if r.Layers != "" {
			label += " (" + r.Layers + ")"
		}
		var ps []string
		for _, k := range sortedKeys(r.Params) {
			v := r.Params[k]
			if l, ok := v.([]any); ok { // longrope's per-frequency factors
				v = fmt.Sprintf("[%d values]", len(l))
			}
			ps = append(ps, fmt.Sprintf("%s %v", k, v))
		}
		line := r.Type
		if r.Theta != 0 {
			line += fmt.Sprintf(", theta %g", r.Theta)
		}
		if len(ps) > 0 {
			line += ", " + strings.Join(ps, ", ")
		}
		fmt.Fprintf(w, "%s:\t%s\n", printable(label), printable(line)) // rope types and keys come from the file
	}
	switch {
	case f.SlidingWindow > 0 && len(f.SlidingLayers) == numLayers:
		fmt.Fprintf(w, "sliding window:\t%d tokens, all layers\n", f.SlidingWindow)
	case f.SlidingWindow > 0:
		fmt.Fprintf(w, "sliding window:\t%d tokens on layers %s (%d of %d; the others attend to everything)\n",
			f.SlidingWindow, joinInts(f.SlidingLayers), len(f.SlidingLayers), numLayers)
	case f.SlidingOff != "":
		fmt.Fprintf(w, "sliding window:\toff (%s)\n", f.SlidingOff)
	}
	if f.AttnSoftcap != 0 || f.FinalSoftcap != 0 {
		fmt.Fprintf(w, "soft-capping:\tattention logits %g, final logits %g (0: off)\n", f.AttnSoftcap, f.FinalSoftcap)
	}
	if f.QueryPreAttnScalar != 0 {
		fmt.Fprintf(w, "query_pre_attn_scalar:\t%g\n", f.QueryPreAttnScalar)
	}
	if f.EmbeddingMultiplier != 0 || f.ResidualMultiplier != 0 || f.AttentionMultiplier != 0 || f.LogitsScaling != 0 {
		fmt.Fprintf(w, "multipliers:\tembedding %g, residual %g, attention %g, logits scaling %g\n",
			f.EmbeddingMultiplier, f.ResidualMultiplier, f.AttentionMultiplier, f.LogitsScaling)
	}
	if f.QKNorm != "" {
		fmt.Fprintf(w, "q/k norm:\t%s\n", f.QKNorm)
	}
	if len(f.NoRopeLayers) > 0 {
		fmt.Fprintf(w, "no RoPE on layers:\t%s\n", joinInts(f.NoRopeLayers))
	}
	if len(f.Fused) > 0 {
		fmt.Fprintf(w, "fused projections:\t%s\n", strings.Join(f.Fused, ", "))
	}
}

func joinInts(l []int) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}
