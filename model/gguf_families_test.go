package model

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
)

// ggufFamilyNames is what llama.cpp calls each family's tensors and config
// keys, per its gguf-py/gguf/constants.py (MODEL_ARCH_NAMES, TENSOR_NAMES,
// MODEL_TENSORS[arch] and class Keys.LLM/Keys.Attention/Keys.Rope) and the
// writers in convert_hf_to_gguf.py (Qwen3Model derives from Qwen2Model:
// no q/k row permutation; Gemma2Model/Gemma3Model add 1 to every
// "norm.weight" and write the soft-caps and sliding_window). "blk."
// tensors are listed once for every layer.
var ggufFamilyNames = map[string]struct {
	arch    string
	tensors []string // without the .weight suffix; blk.* per layer
	keys    []string // after the "<arch>." prefix
}{
	"qwen3": {"qwen3",
		[]string{"token_embd", "output_norm", "blk.attn_norm", "blk.attn_q", "blk.attn_k", "blk.attn_v", "blk.attn_output",
			"blk.attn_q_norm", "blk.attn_k_norm", "blk.ffn_norm", "blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.key_length", "attention.value_length", "rope.dimension_count",
			"rope.freq_base", "attention.layer_norm_rms_epsilon"}},
	"gemma2": {"gemma2",
		[]string{"token_embd", "output_norm", "blk.attn_norm", "blk.attn_q", "blk.attn_k", "blk.attn_v", "blk.attn_output",
			"blk.post_attention_norm", "blk.ffn_norm", "blk.post_ffw_norm", "blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.key_length", "attention.value_length", "attention.layer_norm_rms_epsilon",
			"attention.sliding_window", "attn_logit_softcapping", "final_logit_softcapping"}},
	// The fixture's plan (layer 1 of 2 full) is not llama.cpp's fixed 5:1
	// one; gemma3 below is the fixture with both layers sliding, as
	// llama.cpp runs a 2-layer gemma3 (TestGGUFRefusals: the fixture itself
	// is refused).
	"gemma3": {"gemma3",
		[]string{"token_embd", "output_norm", "blk.attn_norm", "blk.attn_q", "blk.attn_k", "blk.attn_v", "blk.attn_output",
			"blk.attn_q_norm", "blk.attn_k_norm", "blk.post_attention_norm", "blk.ffn_norm", "blk.post_ffw_norm",
			"blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.key_length", "attention.value_length", "attention.layer_norm_rms_epsilon",
			"attention.sliding_window", "rope.freq_base"}},
	"phi3": {"phi3",
		[]string{"token_embd", "output_norm", "output", "blk.attn_norm", "blk.attn_qkv", "blk.attn_output",
			"blk.ffn_norm", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.layer_norm_rms_epsilon", "rope.dimension_count", "rope.freq_base",
			"rope.scaling.original_context_length"}},
	// LlamaModel.generate_extra_tensors: Llama 3 RoPE as ROPE_FREQS.
	"llama3": {"llama",
		[]string{"token_embd", "output_norm", "rope_freqs", "blk.attn_norm", "blk.attn_q", "blk.attn_k", "blk.attn_v",
			"blk.attn_output", "blk.ffn_norm", "blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.layer_norm_rms_epsilon", "rope.dimension_count", "rope.freq_base"}},
	// Olmo2Model: no attn_norm/ffn_norm, norms after the sublayers.
	"olmo2": {"olmo2",
		[]string{"token_embd", "output_norm", "output", "blk.attn_q", "blk.attn_k", "blk.attn_v", "blk.attn_output",
			"blk.attn_q_norm", "blk.attn_k_norm", "blk.post_attention_norm", "blk.post_ffw_norm", "blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.layer_norm_rms_epsilon", "rope.freq_base"}},
	// GraniteModel(LlamaModel): llama's tensors (q/k permuted), the
	// multipliers as Keys.LLM.EMBEDDING_SCALE, RESIDUAL_SCALE, LOGIT_SCALE
	// and Keys.Attention.SCALE.
	"granite": {"granite",
		[]string{"token_embd", "output_norm", "blk.attn_norm", "blk.attn_q", "blk.attn_k", "blk.attn_v", "blk.attn_output",
			"blk.ffn_norm", "blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.layer_norm_rms_epsilon", "rope.freq_base",
			"embedding_scale", "residual_scale", "logit_scale", "attention.scale"}},
	// SmolLM3Model(LlamaModel): llama's tensors, q/k permuted; the RoPE-less
	// layers are fixed in llama.cpp (every 4th), so smollm3 is the fixture
	// with that plan (TestGGUFRefusals: the fixture's own is refused).
	"smollm3": {"smollm3",
		[]string{"token_embd", "output_norm", "blk.attn_norm", "blk.attn_q", "blk.attn_k", "blk.attn_v", "blk.attn_output",
			"blk.ffn_norm", "blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.layer_norm_rms_epsilon", "rope.freq_base"}},
	// Phi3MiniModel.generate_extra_tensors: ROPE_FACTORS_LONG/SHORT and
	// add_rope_scaling_attn_factors; add_sliding_window.
	"phi3-longrope": {"phi3",
		[]string{"token_embd", "output_norm", "output", "rope_factors_long", "rope_factors_short", "blk.attn_norm", "blk.attn_qkv",
			"blk.attn_output", "blk.ffn_norm", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.layer_norm_rms_epsilon", "rope.dimension_count", "rope.freq_base",
			"rope.scaling.original_context_length", "rope.scaling.attn_factor", "attention.sliding_window"}},
}

// ggufVariants change a fixture's config (weights unchanged): gemma3 to
// llama.cpp's layer plan, phi3 to LongRoPE with a trained length of 8 so
// the 12-token rows take the long factors.
var ggufVariants = map[string]struct {
	dir   string
	patch map[string]any
}{
	"gemma3":  {"gemma3", map[string]any{"layer_types": []string{"sliding_attention", "sliding_attention"}}},
	"smollm3": {"smollm3", map[string]any{"no_rope_layers": []int{1, 1}}},
	"phi3-longrope": {"phi3", map[string]any{"original_max_position_embeddings": 8, "sliding_window": 10, "rope_parameters": map[string]any{
		"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 1.0,
		"short_factor": []float64{1, 1.1, 1.3, 1.6, 2, 2.5, 3.1, 4}, "long_factor": []float64{1, 1.5, 2.2, 3.3, 5, 7.5, 11, 16}}}},
}

// ggufFixture loads a families fixture or a variant of one.
func ggufFixture(t *testing.T, name string) Model {
	dir := filepath.Join("testdata", "families", name)
	if v, ok := ggufVariants[name]; ok {
		dir = filepath.Join("testdata", "families", v.dir)
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		for k, x := range v.patch {
			cfg[k] = x
		}
		tmp := t.TempDir()
		b, _ = json.Marshal(cfg)
		w, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if os.WriteFile(filepath.Join(tmp, "config.json"), b, 0o644) != nil || os.WriteFile(filepath.Join(tmp, "model.safetensors"), w, 0o644) != nil {
			t.Fatal("writing the variant")
		}
		dir = tmp
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGGUFRefusals: fixtures whose plan llama.cpp's fixed one cannot
// express (gemma3: layer 1 of 2 full, not 5 of 6 sliding; smollm3: RoPE
// off on layer 1, not every 4th) are refused by name.
func TestGGUFRefusals(t *testing.T) {
	for name, want := range map[string]string{"gemma3": "layer_types", "smollm3": "no_rope_layers"} {
		m, err := Load(filepath.Join("testdata", "families", name))
		if err != nil {
			t.Fatal(err)
		}
		err = SaveGGUF(m, filepath.Join(t.TempDir(), "x.gguf"), name, gguf.F32, nil)
		if !errors.Is(err, ErrUnsupportedModel) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want refused naming %s", name, err, want)
		}
	}
}

// TestGGUFFamilies exports each mapped family fixture (testdata/families,
// HF checkpoints with transformers' float64 reference logits) to GGUF,
// checks the file's tensor names and keys against llama.cpp's, and loads it
// back: F32 logits equal the safetensors model's bit for bit (to 1e-5 where
// a float32 conversion intervenes), Q8_0 ones within 5%.
func TestGGUFFamilies(t *testing.T) {
	dir := t.TempDir()
	for fixture, want := range ggufFamilyNames {
		t.Run(fixture, func(t *testing.T) {
			m := ggufFixture(t, fixture)
			p := filepath.Join(dir, fixture+".gguf")
			if err := SaveGGUF(m, p, fixture, gguf.F32, nil); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var names, wantNames []string
			for _, ti := range f.Tensors {
				names = append(names, ti.Name)
			}
			for _, n := range want.tensors {
				if rest, ok := strings.CutPrefix(n, "blk."); ok {
					for l := range m.Config().NumHiddenLayers {
						wantNames = append(wantNames, "blk."+strconv.Itoa(l)+"."+rest+".weight")
					}
				} else {
					wantNames = append(wantNames, n+".weight")
				}
			}
			sort.Strings(names)
			sort.Strings(wantNames)
			if strings.Join(names, " ") != strings.Join(wantNames, " ") {
				t.Errorf("tensors\n got %v\nwant %v", names, wantNames)
			}
			if a, _ := f.String("general.architecture"); a != want.arch {
				t.Errorf("general.architecture %q, want %q", a, want.arch)
			}
			for _, k := range want.keys {
				if _, ok := f.Get(want.arch + "." + k); !ok {
					t.Errorf("no %s.%s", want.arch, k)
				}
			}
			if m.Config().gemma() { // stored 1+w
				w, _ := f.Float32("blk.0.attn_norm.weight")
				hf := m.(*Transformer).StateDict(nil)["model.layers.0.input_layernorm.weight"]
				if w == nil || hf == nil || w.Data[0] != hf.Data[0]+1 {
					t.Errorf("blk.0.attn_norm.weight is not input_layernorm.weight + 1")
				}
			}
			f.Close()
			m2, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			// The config llama.cpp would run: windows, soft-caps, query scale.
			c1, c2 := m.Config(), m2.Config()
			for l := range c1.NumHiddenLayers {
				if c1.Window(l) != c2.Window(l) {
					t.Errorf("layer %d: window %d, from GGUF %d", l, c1.Window(l), c2.Window(l))
				}
			}
			f64 := func(p *float64) float64 {
				if p == nil {
					return 0
				}
				return *p
			}
			if f64(c1.AttnLogitSoftcapping) != f64(c2.AttnLogitSoftcapping) || f64(c1.FinalLogitSoftcapping) != f64(c2.FinalLogitSoftcapping) ||
				c1.QueryPreAttnScalar != c2.QueryPreAttnScalar || c1.RopeTheta != c2.RopeTheta {
				t.Errorf("config differs after the round trip:\n%+v\n%+v", c1, c2)
			}
			// 12 tokens a row: past the fixtures' window of 8.
			ids := []int{1, 5, 9, 3, 7, 2, 8, 4, 6, 0, 11, 12, 100, 127, 64, 33, 2, 9, 17, 4, 88, 1, 3, 120}
			a, b := m.Forward(ids, 2, 12), m2.Forward(ids, 2, 12)
			// Bit for bit, except Gemma's norms ((1+w)-1 rounds in float32)
			// and RoPE factors (F32 tensors).
			tol := 0.0
			if m.Config().gemma() || fixture == "phi3-longrope" || fixture == "llama3" {
				tol = 1e-5
			}
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > tol*(1+math.Abs(float64(a[i]))) {
					t.Fatalf("logit %d: %g from safetensors, %g from GGUF", i, a[i], b[i])
				}
			}
			// What was loaded exports again (Llama 3's RoPE comes back as
			// per-pair factors).
			if err := SaveGGUF(m2, filepath.Join(dir, fixture+"-again.gguf"), fixture, gguf.F32, nil); err != nil {
				t.Errorf("exporting the loaded model again: %v", err)
			}
			// Q8_0: the same mapping with quantized matrices (norms and
			// LongRoPE factors stay F32), close to the F32 logits.
			pq := filepath.Join(dir, fixture+"-q8_0.gguf")
			if err := SaveGGUF(m, pq, fixture, gguf.Q8_0, nil); err != nil {
				t.Fatal(err)
			}
			mq, err := Load(pq)
			if err != nil {
				t.Fatal(err)
			}
			var worst, scale float64
			for i, v := range mq.Forward(ids, 2, 12) {
				worst = math.Max(worst, math.Abs(float64(v-a[i])))
				scale = math.Max(scale, math.Abs(float64(a[i])))
			}
			// 5%: these random 2-layer models measure 0.3-3.4% (gemma3's
			// and olmo2's q/k norms amplify the rounding of small q/k);
			// a wrong mapping is off by far more.
			if worst > 0.05*scale {
				t.Errorf("Q8_0: max |Δlogit| %g (max |logit| %g)", worst, scale)
			}
		})
	}
}
