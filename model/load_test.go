package model

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tensor"
)

// readAll loads every tensor of a safetensors file.
func readAll(t *testing.T, path string) map[string]*tensor.Tensor {
	t.Helper()
	out, _, err := safetensors.ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeModel writes a model folder from a config file and tensors.
func writeModel(t *testing.T, config []byte, tensors map[string]*tensor.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	llama := testutil.Shared(t, "fixtures", "tiny-llama")
	cfg, err := os.ReadFile(filepath.Join(llama, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	weights := readAll(t, filepath.Join(llama, "model.safetensors"))
	without := func(names ...string) map[string]*tensor.Tensor {
		out := map[string]*tensor.Tensor{}
		for k, v := range weights {
			out[k] = v
		}
		for _, n := range names {
			delete(out, n)
		}
		return out
	}
	badShape := without()
	badShape["model.norm.weight"] = tensor.New(63)
	for _, tc := range []struct {
		name     string
		config   string
		tensors  map[string]*tensor.Tensor
		is       error
		mentions []string
	}{
		{"unsupported model_type", strings.Replace(string(cfg), `"llama"`, `"bert"`, 1), weights, ErrUnsupportedModel, []string{"bert", "gpt2", "llama", "mistral", "qwen2"}},
		{"no model_type", `{"vocab_size": 10}`, weights, ErrUnsupportedModel, []string{"model_type"}},
		{"missing tensors", string(cfg), without("model.norm.weight", "model.layers.1.mlp.up_proj.weight"), ErrMissingTensor,
			[]string{"model.norm.weight", "model.layers.1.mlp.up_proj.weight", "llama", "2 layers"}},
		{"untied head missing", string(cfg), without("lm_head.weight"), ErrMissingTensor, []string{"lm_head.weight"}},
		{"wrong shape", string(cfg), badShape, nil, []string{"model.norm.weight", "[63]", "[64]"}},
		{"rope scaling", strings.Replace(string(cfg), `"rope_scaling": null`, `"rope_scaling": {"rope_type": "mrope", "factor": 8}`, 1), weights, ErrUnsupportedModel, []string{"mrope"}},
		{"rope scaling key", strings.Replace(string(cfg), `"rope_scaling": null`, `"rope_scaling": {"rope_type": "yarn", "factor": 8, "mrope_section": [1]}`, 1), weights, ErrUnsupportedModel, []string{"rope_scaling.mrope_section"}},
		{"llama3 rope incomplete", strings.Replace(string(cfg), `"rope_scaling": null`, `"rope_scaling": {"rope_type": "llama3", "factor": 8}`, 1), weights, nil, []string{"low_freq_factor"}},
		{"bad heads", strings.Replace(string(cfg), `"num_key_value_heads": 2`, `"num_key_value_heads": 3`, 1), weights, nil, []string{"num_key_value_heads"}},
		// Hostile sizes must fail before anything of that size is allocated.
		{"a billion layers", strings.Replace(string(cfg), `"num_hidden_layers": 2`, `"num_hidden_layers": 1000000000`, 1), weights, nil, []string{"num_hidden_layers 1000000000", "more than 65536 layers"}},
		{"more layers than the file", strings.Replace(string(cfg), `"num_hidden_layers": 2`, `"num_hidden_layers": 60000`, 1), weights, nil, []string{"60000 layers", "do not match"}},
		{"hidden 2^40", strings.Replace(string(cfg), `"hidden_size": 64`, `"hidden_size": 1099511627776`, 1), weights, nil, []string{"hidden 1099511627776"}},
		{"huge intermediate", strings.Replace(string(cfg), `"intermediate_size": 96`, `"intermediate_size": 2147483648`, 1), weights, nil, []string{"intermediate 2147483648"}},
		{"huge max positions", strings.Replace(string(cfg), `"max_position_embeddings": 128`, `"max_position_embeddings": 1125899906842624`, 1), weights, nil, []string{"max_position_embeddings", "RoPE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeModel(t, []byte(tc.config), tc.tensors)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			for _, s := range tc.mentions {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(llama, "config.json")); err != nil {
		t.Errorf("loading by config.json path: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("missing path: no error")
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("folder without config.json: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "x.bin")
	os.WriteFile(bin, make([]byte, 40), 0o644)
	if _, err := Load(bin); err == nil {
		t.Error("garbage llama2.c file: no error")
	}
}

// TestGPT2HubNames: hub GPT-2 files name weights without "transformer." and
// carry attn.bias / attn.masked_bias buffers; they load to the same model
// and save back under their own names.
func TestGPT2HubNames(t *testing.T) {
	dir := testutil.Shared(t, "fixtures", "tiny-gpt2")
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	orig := readAll(t, filepath.Join(dir, "model.safetensors"))
	hub := map[string]*tensor.Tensor{}
	for k, v := range orig {
		hub[strings.TrimPrefix(k, "transformer.")] = v
	}
	for l := 0; l < 2; l++ {
		p := "h." + string(rune('0'+l)) + ".attn."
		hub[p+"bias"] = tensor.New(1, 1, 64, 64)
		hub[p+"masked_bias"] = tensor.New(1)
	}
	ref := testutil.Fixture(t, "tiny-gpt2", "reference.safetensors")
	ids, _, B, T := readInputs(t, dir)
	m, err := Load(writeModel(t, cfg, hub))
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "logits", m.Forward(ids, B, T), testutil.Get(t, ref, "logits").F, 0, 2e-6)
	out := t.TempDir()
	if err := m.SaveHF(out); err != nil {
		t.Fatal(err)
	}
	saved := readAll(t, filepath.Join(out, "model.safetensors"))
	if _, ok := saved["h.0.attn.c_attn.weight"]; !ok {
		t.Errorf("saved names %v lack the hub's unprefixed names", keys(saved))
	}
}

func keys(m map[string]*tensor.Tensor) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestSaveHFRoundTrip: SaveHF writes the checkpoint's own names and layouts
// (GPT-2 Conv1D back to [in, out]) bit for bit, and the saved folder loads
// to the same logits.
func TestSaveHFRoundTrip(t *testing.T) {
	for _, name := range []string{"tiny-gpt2", "tiny-llama", "tiny-qwen2"} {
		t.Run(name, func(t *testing.T) {
			dir := testutil.Shared(t, "fixtures", name)
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			if err := m.SaveHF(out); err != nil {
				t.Fatal(err)
			}
			orig := readAll(t, filepath.Join(dir, "model.safetensors"))
			saved := readAll(t, filepath.Join(out, "model.safetensors"))
			if len(orig) != len(saved) {
				t.Errorf("saved %d tensors, original has %d", len(saved), len(orig))
			}
			for k, want := range orig {
				got, ok := saved[k]
				if !ok {
					t.Errorf("%s not saved", k)
					continue
				}
				if !tensor.SameShape(got.Shape, want.Shape) {
					t.Errorf("%s: shape %v, want %v", k, got.Shape, want.Shape)
					continue
				}
				for i := range want.Data {
					if got.Data[i] != want.Data[i] {
						t.Errorf("%s[%d] = %g, want %g", k, i, got.Data[i], want.Data[i])
						break
					}
				}
			}
			var cfg map[string]any
			data, _ := os.ReadFile(filepath.Join(out, "config.json"))
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg["model_type"] != m.Config().ModelType {
				t.Errorf("saved model_type %v", cfg["model_type"])
			}
			m2, err := Load(out)
			if err != nil {
				t.Fatal(err)
			}
			ids, _, B, T := readInputs(t, dir)
			want := append([]float32(nil), m.Forward(ids, B, T)...)
			testutil.AllClose(t, "reloaded logits", m2.Forward(ids, B, T), testutil.To64(want), 0, 0)
		})
	}
}

// TestHFRandomLlama compares with activations transformers itself computed
// for a bf16 Llama (tiny-llama-random-hf), and with HF's greedy ids.
func TestHFRandomLlama(t *testing.T) {
	dir := testutil.Extra(t, "models", "tiny-llama-random-hf") // unlicensed: not copied into testdata/
	act, err := testutil.ReadSafetensors(filepath.Join(dir, "expected", "activations.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := act["input_ids"].Ints()
	logits := m.Forward(ids, 1, len(ids))
	hs := m.HiddenStates()
	for i, name := range []string{"embeddings", "layers.0", "final_norm"} {
		idx := []int{0, 1, 2}[i]
		testutil.AllClose(t, name, hs[idx], act[name].F, 1e-4, 3e-5) // HF float32 (SDPA, fused kernels) vs ours: noise-level
	}
	testutil.AllClose(t, "logits", logits, act["logits"].F, 1e-5, 1e-5)

	data, err := os.ReadFile(filepath.Join(dir, "expected", "generate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gen struct {
		Cases []struct {
			Name      string `json:"name"`
			Prompt    []int  `json:"prompt_ids"`
			Generated []int  `json:"generated_ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &gen); err != nil {
		t.Fatal(err)
	}
	eos := m.Config().EOSTokenID
	for _, tc := range gen.Cases {
		c := m.NewCache(1, len(tc.Prompt)+len(tc.Generated))
		logits, err := m.Step(c, [][]int{tc.Prompt})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range tc.Generated {
			for _, e := range eos {
				logits[e] = -1e30 // the reference suppresses EOS
			}
			got := argmax(logits)
			if got != want {
				t.Errorf("%s: token %d is %d, want %d", tc.Name, i, got, want)
				break
			}
			if logits, err = m.Step(c, [][]int{{got}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestHubGPT2 loads hf-internal-testing/tiny-random-gpt2 (stray
// intermediate_size / hidden_act keys GPT-2 ignores) and checks the decode
// path against Forward.
func TestHubGPT2(t *testing.T) {
	dir := testutil.Shared(t, "models", "tiny-random-gpt2")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Config()
	if cfg.IntermediateSize != 128 || cfg.NumHiddenLayers != 5 || !cfg.Tied() {
		t.Errorf("config: intermediate %d layers %d tied %v", cfg.IntermediateSize, cfg.NumHiddenLayers, cfg.Tied())
	}
	ids := []int{98, 5, 17, 300, 999, 0}
	want := append([]float32(nil), m.Forward(ids, 1, len(ids))...)
	c := m.NewCache(1, 8)
	got, err := m.StepAll(c, [][]int{ids})
	if err != nil {
		t.Fatal(err)
	}
	testutil.AllClose(t, "prefill", got, testutil.To64(want), 0, 1e-5)
}

// TestEmbeddedSaveHF: the embedded llama2.c model saves as an HF Llama
// folder (tied, no lm_head) that loads back to the same logits.
func TestEmbeddedSaveHF(t *testing.T) {
	m, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := m.SaveHF(out); err != nil {
		t.Fatal(err)
	}
	saved := readAll(t, filepath.Join(out, "model.safetensors"))
	if _, ok := saved["lm_head.weight"]; ok {
		t.Error("tied model saved an lm_head.weight")
	}
	m2, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{1, 403, 407, 261, 378}
	want := append([]float32(nil), m.Forward(ids, 1, len(ids))...)
	testutil.AllClose(t, "logits", m2.Forward(ids, 1, len(ids)), testutil.To64(want), 0, 0)
}

// TestMistralRow: model_type mistral is served by the Llama row of the
// family table (same names, no biases).
func TestMistralRow(t *testing.T) {
	dir := testutil.Shared(t, "fixtures", "tiny-llama")
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	mistral := strings.Replace(string(cfg), `"model_type": "llama"`, `"model_type": "mistral"`, 1)
	if mistral == string(cfg) {
		t.Fatal("config rewrite failed")
	}
	m, err := Load(writeModel(t, []byte(mistral), readAll(t, filepath.Join(dir, "model.safetensors"))))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config().ModelType != "mistral" {
		t.Errorf("model_type %q", m.Config().ModelType)
	}
	ids, _, B, T := readInputs(t, dir)
	ref := testutil.Fixture(t, "tiny-llama", "reference.safetensors")
	testutil.AllClose(t, "logits", m.Forward(ids, B, T), testutil.Get(t, ref, "logits").F, 0, 2e-6)
}
