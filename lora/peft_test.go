package lora

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
)

// The fixtures in testdata/peft were written by tools/peftref/gen.py (see
// its README): PEFT semantics in float64 torch, cross-checked there against
// the shared real-PEFT-format fixtures.
var peftFeatureFixtures = []string{"mts-llama", "mts-qwen2", "emb-llama", "emb-qwen2", "bias-qwen2", "tokens-llama", "tokens-qwen2", "tokens-dict-llama"}

type peftRef struct {
	Loss       float64  `json:"loss"`
	BaseLoss   float64  `json:"base_loss"`
	MergedLoss float64  `json:"merged_loss"`
	MergedTied bool     `json:"merged_tie_word_embeddings"`
	Changed    []string `json:"merged_changed"`
}

func peftDir(parts ...string) string {
	return filepath.Join(append([]string{"testdata", "peft"}, parts...)...)
}

// peftBatch reads a base's inputs.json as ids and HF causal-LM targets.
func peftBatch(t *testing.T, base string) (ids, targets []int, B, T int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(base, "inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		InputIDs [][]int `json:"input_ids"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	B, T = len(in.InputIDs), len(in.InputIDs[0])
	for _, row := range in.InputIDs {
		ids = append(ids, row...)
		targets = append(targets, row[1:]...)
		targets = append(targets, model.IgnoreIndex)
	}
	return ids, targets, B, T
}

// loadFixtureBase loads the base model a fixture adapter records, frozen,
// and returns it with its folder.
func loadFixtureBase(t *testing.T, adapter string) (model.Model, string) {
	t.Helper()
	cfg, err := ReadConfig(peftDir(adapter))
	if err != nil {
		t.Fatal(err)
	}
	base := peftDir(cfg.BaseModelNameOrPath)
	m, err := model.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrainable(nil)
	return m, base
}

// loadPEFTFixture loads a fixture adapter onto its base.
func loadPEFTFixture(t *testing.T, name string) (model.Model, *Model, string, peftRef) {
	t.Helper()
	dir := peftDir(name)
	m, base := loadFixtureBase(t, name)
	lm := ForModel(m)
	names, err := lm.LoadDir(dir, DefaultName, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := lm.SetActive(names...); err != nil {
		t.Fatal(err)
	}
	var ref peftRef
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return m, lm, base, ref
}

func maxAbsDiff(a, b []float32) (d, scale float64) {
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return d, scale
}

// TestPEFTFeatureFixtures: for modules_to_save (untied and tied head),
// LoRA on the embedding (untied and tied), lora_bias and trainable tokens
// (untied, and tied so the head follows), golora's loss and the gradient of
// every trainable tensor match the float64 reference, and the merged model
// has the reference's weights (untied where the adapter changed one side of
// a tied pair), its loss, and survives SaveHF and a reload.
func TestPEFTFeatureFixtures(t *testing.T) {
	for _, name := range peftFeatureFixtures {
		t.Run(name, func(t *testing.T) {
			m, lm, base, ref := loadPEFTFixture(t, name)
			ids, targets, B, T := peftBatch(t, base)
			lm.SetTrain(false)
			loss := m.Loss(ids, targets, B, T)
			if math.Abs(loss-ref.Loss) > 1e-6 {
				t.Fatalf("loss %.9f, reference %.9f (base %.9f)", loss, ref.Loss, ref.BaseLoss)
			}
			lm.ZeroGrad()
			m.Backward()
			grads, err := safetensors.Open(peftDir(name, "reference.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer grads.Close()
			seen := 0
			for _, p := range lm.Params() {
				want, err := grads.Tensor("grad." + p.Name)
				if err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
				d, scale := maxAbsDiff(p.G.Data, want.Data)
				if d > 1e-5*scale+1e-7 {
					t.Errorf("grad %s: max abs error %g (max |grad| %g)", p.Name, d, scale)
				}
				seen++
			}
			if seen != len(grads.Names()) {
				t.Errorf("golora trains %d tensors, the reference %d", seen, len(grads.Names()))
			}

			if err := lm.MergeAndUnload(true); err != nil {
				t.Fatal(err)
			}
			if m.Config().Tied() != ref.MergedTied {
				t.Errorf("merged model tied %v, reference %v", m.Config().Tied(), ref.MergedTied)
			}
			checkMerged(t, m, name, ref)
			mm := savedAndLoaded(t, m)
			if l := mm.Loss(ids, targets, B, T); math.Abs(l-ref.MergedLoss) > 1e-6 {
				t.Errorf("reloaded merged loss %.9f, reference %.9f", l, ref.MergedLoss)
			}
		})
	}
}

// checkMerged compares every parameter of m with the base, or with the
// reference merged tensor where the merge changed it.
func checkMerged(t *testing.T, m model.Model, name string, ref peftRef) {
	t.Helper()
	merged, err := safetensors.Open(peftDir(name, "merged.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	cfg, _ := ReadConfig(peftDir(name))
	baseW, err := safetensors.Open(peftDir(cfg.BaseModelNameOrPath, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer baseW.Close()
	changed := map[string]bool{}
	for _, n := range ref.Changed {
		changed[n] = true
	}
	for _, p := range m.Params() {
		var want *tensor.Tensor
		var err error
		if changed[p.Name] {
			want, err = merged.Tensor(p.Name)
			delete(changed, p.Name)
		} else {
			want, err = baseW.Tensor(p.Name)
		}
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if d, _ := maxAbsDiff(p.W.Data, want.Data); d > 1e-6 {
			t.Errorf("merged %s differs from the reference by %g", p.Name, d)
		}
	}
	for n := range changed {
		t.Errorf("the merged model lacks %s", n)
	}
}

// TestModulesToSaveOldKeys: PEFT before 0.15 saved modules_to_save copies
// as <module>.modules_to_save.weight; those load like the new keys.
func TestModulesToSaveOldKeys(t *testing.T) {
	dir := t.TempDir()
	src := peftDir("mts-llama")
	f, err := safetensors.Open(filepath.Join(src, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensor.Tensor{}
	for _, n := range f.Names() {
		w, _ := f.Tensor(n)
		if !strings.Contains(n, "lora_") {
			n = strings.TrimSuffix(n, ".weight") + ".modules_to_save.weight"
		}
		out[n] = w
	}
	f.Close()
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), out, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(src, ConfigFile))
	os.WriteFile(filepath.Join(dir, ConfigFile), raw, 0o644)
	m, err := model.Load(peftDir("tiny-llama"))
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrainable(nil)
	lm := ForModel(m)
	if err := lm.Load(dir, DefaultName); err != nil {
		t.Fatal(err)
	}
	_, _, _, ref := loadPEFTFixture(t, "mts-llama")
	ids, targets, B, T := peftBatch(t, peftDir("tiny-llama"))
	if l := m.Loss(ids, targets, B, T); math.Abs(l-ref.Loss) > 1e-6 {
		t.Errorf("loss with the old keys %.9f, reference %.9f", l, ref.Loss)
	}
}

// TestPEFTFeatureRoundTrip trains each new feature a few steps, saves it,
// loads it onto a fresh base (same loss), merges it and reloads the merged
// checkpoint (same loss again), and checks the keys PEFT writes.
func TestPEFTFeatureRoundTrip(t *testing.T) {
	cases := []struct {
		name, base string
		cfg        func(c *Config)
		keys       []string
	}{
		{"bias+lm_head copy, tied", "tiny-qwen2", func(c *Config) {
			c.TargetModules = List("q_proj", "k_proj", "v_proj")
			c.LoraBias = true
			c.ModulesToSave = []string{"lm_head"}
		}, []string{"base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias", "base_model.model.lm_head.weight"}},
		{"embedding LoRA, lm_head copy", "tiny-llama", func(c *Config) {
			c.TargetModules = List("embed_tokens", "q_proj")
			c.ModulesToSave = []string{"lm_head"}
		}, []string{"base_model.model.model.embed_tokens.lora_embedding_A", "base_model.model.model.embed_tokens.lora_embedding_B", "base_model.model.model.embed_tokens.base_layer.weight", "base_model.model.lm_head.weight"}},
		{"embedding LoRA, tied", "tiny-qwen2", func(c *Config) {
			c.TargetModules = List("embed_tokens", "v_proj")
		}, []string{"base_model.model.model.embed_tokens.lora_embedding_B"}},
		{"trainable tokens, tied", "tiny-qwen2", func(c *Config) {
			c.TargetModules = List("q_proj")
			c.TrainableTokens = TokenIndices{{IDs: []int{1, 48, 99}}}
		}, []string{"base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"}},
		{"embed_tokens copy", "tiny-llama", func(c *Config) {
			c.TargetModules = List("q_proj")
			c.ModulesToSave = []string{"embed_tokens"}
		}, []string{"base_model.model.model.embed_tokens.weight"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := peftDir(tc.base)
			ids, targets, B, T := peftBatch(t, base)
			m, err := model.Load(base)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTrainable(nil)
			lm := ForModel(m)
			cfg := DefaultConfig()
			cfg.R, cfg.LoraAlpha = 4, 8
			tc.cfg(cfg)
			if err := lm.Add(DefaultName, cfg, "", 3); err != nil {
				t.Fatal(err)
			}
			first := m.Loss(ids, targets, B, T)
			for step := 0; step < 4; step++ { // plain SGD: every new tensor must get a gradient
				lm.ZeroGrad()
				m.Loss(ids, targets, B, T)
				m.Backward()
				for _, p := range lm.Params() {
					for i, g := range p.G.Data {
						p.W.Data[i] -= 0.5 * g
					}
				}
			}
			loss := m.Loss(ids, targets, B, T)
			if !(loss < first-1e-3) {
				t.Fatalf("training did not lower the loss: %.6f -> %.6f", first, loss)
			}
			dir := t.TempDir()
			if err := lm.Save(dir); err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.Open(filepath.Join(dir, WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.keys {
				if _, ok := f.Info(k); !ok {
					t.Errorf("saved adapter lacks %s (has %v)", k, f.Names())
				}
			}
			f.Close()

			m2, err := model.Load(base)
			if err != nil {
				t.Fatal(err)
			}
			m2.SetTrainable(nil)
			lm2 := ForModel(m2)
			if err := lm2.Load(dir, DefaultName); err != nil {
				t.Fatal(err)
			}
			lm2.SetTrain(false)
			if l := m2.Loss(ids, targets, B, T); math.Abs(l-loss) > 1e-7 {
				t.Fatalf("reloaded adapter loss %.9f, trained %.9f", l, loss)
			}
			if err := lm2.MergeAndUnload(true); err != nil {
				t.Fatal(err)
			}
			mm := savedAndLoaded(t, m2)
			if l := mm.Loss(ids, targets, B, T); math.Abs(l-loss) > 1e-5 {
				t.Errorf("merged checkpoint loss %.9f, adapter %.9f", l, loss)
			}
		})
	}
}

// TestEmbeddingRowRouting: with SetRows, each batch row gets only its own
// adapter's embedding LoRA or trained token rows, as if it ran alone.
func TestEmbeddingRowRouting(t *testing.T) {
	for _, pair := range [][2]string{{"emb-llama", "tokens-llama"}, {"emb-qwen2", "tokens-qwen2"}} {
		m, base := loadFixtureBase(t, pair[0])
		lm := ForModel(m)
		for _, n := range pair {
			if err := lm.Load(peftDir(n), n); err != nil {
				t.Fatal(err)
			}
		}
		ids, _, B, T := peftBatch(t, base)
		V := m.Config().VocabSize
		want := make([]float32, B*T*V)
		for b, n := range pair[:B] {
			if err := lm.SetActive(n); err != nil {
				t.Fatal(err)
			}
			logits := m.Forward(ids, B, T)
			copy(want[b*T*V:(b+1)*T*V], logits[b*T*V:(b+1)*T*V])
		}
		if err := lm.SetActive(pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
		rows := make([]int, B*T)
		for i := range rows {
			rows[i] = i / T
		}
		lm.SetRows(rows)
		got := m.Forward(ids, B, T)
		lm.SetRows(nil)
		if d, _ := maxAbsDiff(got, want); d > 1e-6 {
			t.Errorf("%v: routed logits differ from each adapter alone by %g", pair, d)
		}
	}
}

// TestGPT2EmbeddingAndHead: on GPT-2 (tied wte, Conv1D blocks) LoRA on wte
// and a trained lm_head copy merge into an untied checkpoint that reloads
// with the adapted loss.
func TestGPT2EmbeddingAndHead(t *testing.T) {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "gpt2", "vocab_size": 61, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrainable(nil)
	lm := ForModel(m)
	c := DefaultConfig()
	c.TargetModules = List("wte", "c_attn")
	c.ModulesToSave = []string{"lm_head"}
	if err := lm.Add(DefaultName, c, "false", 9); err != nil {
		t.Fatal(err)
	}
	for _, p := range lm.Params() { // a trained head copy differs from wte
		if strings.HasSuffix(p.Name, "lm_head.weight") {
			for i := range p.W.Data {
				p.W.Data[i] += 0.01 * float32(i%7-3)
			}
		}
	}
	ids := []int{3, 14, 15, 9, 26, 53, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4}
	targets := append(append([]int(nil), ids[1:]...), model.IgnoreIndex)
	want := m.Loss(ids, targets, 1, len(ids))
	lm.Disable()
	base := m.Loss(ids, targets, 1, len(ids))
	lm.Enable()
	if math.Abs(want-base) < 1e-3 {
		t.Fatalf("the adapter does not move the loss (%g)", base)
	}
	if err := lm.MergeAndUnload(true); err != nil {
		t.Fatal(err)
	}
	mm := savedAndLoaded(t, m)
	if mm.Config().Tied() {
		t.Error("merged GPT-2 is still tied")
	}
	if got := mm.Loss(ids, targets, 1, len(ids)); math.Abs(got-want) > 1e-5 {
		t.Errorf("merged GPT-2 loss %.7f, adapted %.7f", got, want)
	}
}

// savedAndLoaded writes m as a Hugging Face folder (SaveHF) and loads it
// back.
func savedAndLoaded(t *testing.T, m model.Model) model.Model {
	t.Helper()
	out := t.TempDir()
	if err := m.SaveHF(out); err != nil {
		t.Fatal(err)
	}
	mm, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	return mm
}
