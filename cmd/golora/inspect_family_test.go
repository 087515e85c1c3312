package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// TestInspectFamilySettings reads the family settings of the configs in
// testdata/families-configs (transformers 5.17's tiny models, and the same
// models in the 4.x layout) and checks both the report and its text.
func TestInspectFamilySettings(t *testing.T) {
	longrope := func(step float64) []any {
		l := make([]any, 8)
		for i := range l {
			l[i] = 1 + step*float64(i)
		}
		return l
	}
	tests := []struct {
		dir   string
		want  *familySettings
		theta float64
		lines []string // in the text output
	}{
		{"llama3", &familySettings{Rope: []ropeSummary{{Type: "llama3", Theta: 500000, Params: map[string]any{
			"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 64.0}}}}, 500000,
			[]string{"rope:  llama3, theta 500000, factor 8, high_freq_factor 4, low_freq_factor 1, original_max_position_embeddings 64"}},
		{"llama3-v4", &familySettings{Rope: []ropeSummary{{Type: "llama3", Theta: 500000, Params: map[string]any{
			"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 64.0}}}}, 500000, nil},
		{"qwen3", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 1e6}}, QKNorm: "per head"}, 1e6,
			[]string{"q/k norm:  per head", "head dim 32, set explicitly: hidden/heads is 16"}},
		{"qwen3-sw-yarn-v4", &familySettings{Rope: []ropeSummary{{Type: "yarn", Theta: 1e6, Params: map[string]any{"factor": 4.0, "original_max_position_embeddings": 64.0}}},
			SlidingWindow: 16, SlidingLayers: []int{1}, QKNorm: "per head"}, 1e6,
			[]string{"sliding window:  16 tokens on layers 1 (1 of 2; the others attend to everything)", "rope:  yarn, theta 1e+06, factor 4"}},
		{"gemma3", &familySettings{Rope: []ropeSummary{{Layers: "full_attention", Type: "default", Theta: 1e6}, {Layers: "sliding_attention", Type: "default", Theta: 10000}},
			SlidingWindow: 8, SlidingLayers: []int{0}, QueryPreAttnScalar: 32, QKNorm: "per head"}, 1e6,
			[]string{"rope (full_attention):  default, theta 1e+06", "rope (sliding_attention):  default, theta 10000", "sliding window:  8 tokens on layers 0 (1 of 2", "activation:  gelu_pytorch_tanh"}},
		{"gemma3-v4", &familySettings{Rope: []ropeSummary{{Layers: "full_attention", Type: "linear", Theta: 1e6, Params: map[string]any{"factor": 8.0}}, {Layers: "sliding_attention", Type: "default", Theta: 10000}},
			SlidingWindow: 8, SlidingLayers: []int{0}, QueryPreAttnScalar: 32, QKNorm: "per head"}, 1e6, nil},
		{"gemma2", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 10000}}, SlidingWindow: 8, SlidingLayers: []int{0},
			AttnSoftcap: 50, FinalSoftcap: 30, QueryPreAttnScalar: 32}, 10000,
			[]string{"soft-capping:  attention logits 50, final logits 30", "query_pre_attn_scalar:  32"}},
		{"gemma2-v4", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 10000}}, SlidingWindow: 8, SlidingLayers: []int{0},
			AttnSoftcap: 50, FinalSoftcap: 30, QueryPreAttnScalar: 32}, 10000, nil},
		{"mistral-sw", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 10000}}, SlidingWindow: 8, SlidingLayers: []int{0, 1}}, 10000,
			[]string{"sliding window:  8 tokens, all layers"}},
		{"granite", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 10000}}, EmbeddingMultiplier: 12, ResidualMultiplier: 0.22,
			AttentionMultiplier: 0.0625, LogitsScaling: 8}, 10000,
			[]string{"multipliers:  embedding 12, residual 0.22, attention 0.0625, logits scaling 8"}},
		{"olmo2", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 10000}}, QKNorm: "whole projection"}, 10000,
			[]string{"q/k norm:  whole projection"}},
		{"phi3", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 10000, Params: map[string]any{"partial_rotary_factor": 1.0}}}}, 10000, nil},
		{"phi3-longrope-v4", &familySettings{Rope: []ropeSummary{{Type: "longrope", Theta: 10000, Params: map[string]any{
			"short_factor": longrope(0.01), "long_factor": longrope(0.5), "original_max_position_embeddings": 4096.0}}},
			SlidingWindow: 2047, SlidingLayers: []int{0, 1}}, 10000,
			[]string{"rope:  longrope, theta 10000, long_factor [8 values], original_max_position_embeddings 4096, short_factor [8 values]"}},
		{"smollm3", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 2e6}}, NoRopeLayers: []int{1}}, 2e6,
			[]string{"no RoPE on layers:  1"}},
		{"smollm3-v4", &familySettings{Rope: []ropeSummary{{Type: "default", Theta: 2e6}}, NoRopeLayers: []int{1}}, 2e6, nil},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			cfg, err := inspectReadJSON(filepath.Join("testdata", "families-configs", tc.dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			a := inspectConfig(cfg)
			// Compare as JSON: the report's schema, and float lists read back as []any.
			got, _ := json.Marshal(a.Family)
			want, _ := json.Marshal(tc.want)
			if !bytes.Equal(got, want) {
				t.Errorf("family settings\n got %s\nwant %s", got, want)
			}
			if a.RopeTheta != tc.theta {
				t.Errorf("rope theta %g, want %g", a.RopeTheta, tc.theta)
			}
			var buf bytes.Buffer
			rep := &inspectReport{Path: tc.dir, Kind: "model", Architecture: a}
			if err := rep.print(&buf, false); err != nil {
				t.Fatal(err)
			}
			// The table pads columns; compare with runs of spaces squeezed to two.
			text := strings.Join(strings.Fields(strings.ReplaceAll(buf.String(), ":", ": ")), " ")
			for _, l := range tc.lines {
				if l = strings.Join(strings.Fields(strings.ReplaceAll(l, ":", ": ")), " "); !strings.Contains(text, l) {
					t.Errorf("text output lacks %q:\n%s", l, buf.String())
				}
			}
		})
	}
}

// TestInspectQKNormFromWeights: with weights, the q_norm shape decides
// between a per-head norm and one over the whole projection, whatever
// model_type says.
func TestInspectQKNormFromWeights(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{32, "per head"}, {128, "whole projection"}} {
		dir := t.TempDir()
		cfg, _ := os.ReadFile(filepath.Join("testdata", "families-configs", "qwen3", "config.json"))
		os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
		w := map[string]*tensor.Tensor{"model.layers.0.self_attn.q_norm.weight": tensor.New(tc.n)}
		if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), w, nil); err != nil {
			t.Fatal(err)
		}
		rep, err := inspectPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Architecture.Family.QKNorm; got != tc.want {
			t.Errorf("q_norm [%d]: %q, want %q", tc.n, got, tc.want)
		}
	}
	// Phi-3's fused projections come from the weight names.
	dir := t.TempDir()
	cfg, _ := os.ReadFile(filepath.Join("testdata", "families-configs", "phi3", "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	w := map[string]*tensor.Tensor{"model.layers.0.self_attn.qkv_proj.weight": tensor.New(192, 64), "model.layers.0.mlp.gate_up_proj.weight": tensor.New(192, 64)}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), w, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := inspectPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Architecture.Family.Fused; !reflect.DeepEqual(got, []string{"gate_up_proj", "qkv_proj"}) {
		t.Errorf("fused projections %q", got)
	}
	var buf bytes.Buffer
	rep.print(&buf, false)
	if !strings.Contains(strings.Join(strings.Fields(buf.String()), " "), "fused projections: gate_up_proj, qkv_proj") {
		t.Errorf("text output:\n%s", buf.String())
	}
	// A hostile layer count does not make per-layer lists of that size.
	huge := inspectConfig(map[string]any{"model_type": "mistral", "num_hidden_layers": 1e12, "sliding_window": 8.0, "no_rope_layer_interval": 2.0})
	if f := huge.Family; f == nil {
		t.Error("num_hidden_layers 1e12: no family settings")
	} else if len(f.SlidingLayers) != inspectMaxLayers || len(f.NoRopeLayers) != inspectMaxLayers/2 {
		t.Errorf("num_hidden_layers 1e12: %d sliding, %d no-RoPE layers listed", len(f.SlidingLayers), len(f.NoRopeLayers))
	}
	// A plain Llama config has no family settings.
	a := inspectConfig(map[string]any{"model_type": "llama", "hidden_size": 64.0, "num_attention_heads": 4.0, "rope_theta": 10000.0})
	if a.Family != nil || !reflect.DeepEqual(a.RopeTheta, 10000.0) {
		t.Errorf("plain llama: family %+v theta %v", a.Family, a.RopeTheta)
	}
}
