package lora

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/model"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// TestConfigRefusals: adapters golora would compute wrongly are refused by
// name; keys that change nothing are accepted.
func TestConfigRefusals(t *testing.T) {
	base := `"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]`
	for _, tc := range []struct {
		extra string
		want  []string
	}{
		{`"peft_type": "IA3"`, []string{`peft_type "IA3" is not supported`}},
		{`"peft_type": "LOHA"`, []string{`peft_type "LOHA"`}},
		{`"use_qalora": true`, []string{`"use_qalora"`, "QA-LoRA"}},
		{`"lora_ga_config": {"bsz": 2}`, []string{`"lora_ga_config"`, "LoRA-GA"}},
		{`"loftq_config": {"loftq_bits": 4}`, []string{`"loftq_config"`}},
		{`"alora_invocation_tokens": [5, 6]`, []string{`"alora_invocation_tokens"`}},
		{`"target_parameters": ["experts.gate_up_proj"]`, []string{`"target_parameters"`}},
		{`"layer_replication": [[0, 2]]`, []string{`"layer_replication"`}},
		{`"use_bdlora": {"nblocks": 2}`, []string{`"use_bdlora"`}},
		{`"lora_bias": true, "use_dora": true`, []string{"lora_bias", "DoRA"}},
		{`"trainable_token_indices": []`, []string{"trainable_token_indices", "empty"}},
	} {
		_, err := ParseConfig([]byte("{" + base + ", " + tc.extra + "}"))
		wantErr(t, err, tc.want...)
	}
	_, err := ParseConfig([]byte(`{"r": 4, "target_modules": []}`))
	wantErr(t, err, "target_modules is an empty list")

	// Off values of the refused keys, and keys of the future, load.
	c, err := ParseConfig([]byte("{" + base + `, "use_qalora": false, "lora_ga_config": null, "loftq_config": {}, "target_parameters": null, "some_future_key": 3, "runtime_config": {"ephemeral_gpu_offload": false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 2 || !strings.Contains(strings.Join(c.Warnings, " "), "some_future_key") {
		t.Errorf("warnings %q: want the unknown keys named", c.Warnings)
	}
	c, err = ParseConfig([]byte("{" + base + `, "trainable_token_indices": {"embed_tokens": [3, 4], "lm_head": [3, 4]}, "lora_bias": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrainableTokens) != 2 || c.TrainableTokens[1].Module != "lm_head" || !c.LoraBias {
		t.Errorf("parsed %+v", c.TrainableTokens)
	}
	out, _ := c.Marshal()
	if !strings.Contains(string(out), `"lora_bias": true`) || !strings.Contains(string(out), `"lm_head": [`) {
		t.Errorf("written config lost lora_bias or trainable_token_indices:\n%s", out)
	}
}

func tinyLlama(t *testing.T, name string) (model.Model, *Model) {
	t.Helper()
	m, err := model.Load(peftDir(name))
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrainable(nil)
	return m, ForModel(m)
}

// TestTargetRefusals: every unmatched name is an error naming it.
func TestTargetRefusals(t *testing.T) {
	_, lm := tinyLlama(t, "tiny-llama")
	cfg := DefaultConfig()
	cfg.TargetModules = List("q_proj", "x")
	wantErr(t, lm.Add("a", cfg, "", 1), `target module "x" matches no module`, "q_proj")
	cfg.TargetModules = List("q_proj")
	cfg.ModulesToSave = []string{"score"}
	wantErr(t, lm.Add("a", cfg, "", 1), `modules_to_save entry "score"`)
	cfg.ModulesToSave = []string{"q_proj"}
	wantErr(t, lm.Add("a", cfg, "", 1), "both target_modules and modules_to_save")
	cfg.ModulesToSave = nil
	cfg.TrainableTokens = TokenIndices{{IDs: []int{3, 500}}}
	wantErr(t, lm.Add("a", cfg, "", 1), "token id 500 outside the vocabulary")
	cfg.TrainableTokens = TokenIndices{{Module: "norm", IDs: []int{3}}}
	wantErr(t, lm.Add("a", cfg, "", 1), `key "norm" matches neither`)
	cfg.TrainableTokens = nil
	cfg.TargetModules = List("embed_tokens")
	cfg.LoraBias = true
	wantErr(t, lm.Add("a", cfg, "", 1), "lora_bias is not supported on the embedding")
	cfg.LoraBias = false
	cfg.ModulesToSave = []string{"embed_tokens"}
	wantErr(t, lm.Add("a", cfg, "", 1), "more than one of target_modules, modules_to_save and trainable_token_indices")
	if len(lm.Names()) != 0 {
		t.Errorf("a refused adapter was kept: %v", lm.Names())
	}
}

// TestMergeRefusals: merge refuses lora_bias on a layer without a base
// bias (as PEFT) and bottleneck adapters (non-linear), naming them, and
// changes nothing; DropBottlenecks then merges the LoRA part.
func TestMergeRefusals(t *testing.T) {
	_, lm := tinyLlama(t, "tiny-llama")
	cfg := DefaultConfig()
	cfg.TargetModules = List("q_proj")
	cfg.LoraBias = true
	if err := lm.Add(DefaultName, cfg, "false", 1); err != nil {
		t.Fatal(err)
	}
	if w := lm.Config(DefaultName).Warnings; len(w) == 0 || !strings.Contains(w[0], "cannot be merged") {
		t.Errorf("warnings %q: want the missing base bias named", w)
	}
	q := lm.Layer("model.layers.0.self_attn.q_proj").Linear.W
	before := q.Clone()
	wantErr(t, lm.MergeAndUnload(true), "lora_bias", "model.layers.0.self_attn.q_proj", "no bias")
	if d, _ := maxAbsDiff(q.Data, before.Data); d != 0 {
		t.Error("a refused merge changed weights")
	}

	m, lm := tinyLlama(t, "tiny-llama")
	cfg = DefaultConfig()
	cfg.TargetModules = List("q_proj")
	if err := lm.Add(DefaultName, cfg, "false", 1); err != nil {
		t.Fatal(err)
	}
	if err := lm.AddBottleneckToModel("adapter", DefaultBottleneckConfig(), m, 2); err != nil {
		t.Fatal(err)
	}
	if err := lm.SetActive(DefaultName, "adapter"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, lm.MergeAndUnload(true), "bottleneck adapter(s) [adapter] cannot be merged", "non-linear")
	if got := lm.DropBottlenecks(); len(got) != 1 || got[0] != "adapter" {
		t.Errorf("DropBottlenecks = %v", got)
	}
	if err := lm.MergeAndUnload(true); err != nil {
		t.Fatal(err)
	}
}

// TestBaseMismatch: the warning names both models; hub ids and folders
// with the same last element agree.
func TestBaseMismatch(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tiny-llama"), 0o755)
	if w := BaseMismatch("tiny-llama", filepath.Join(dir, "adapter"), filepath.Join(dir, "tiny-qwen2"), "stories260K"); !strings.Contains(w, `"tiny-llama"`) || !strings.Contains(w, "tiny-qwen2") {
		t.Errorf("warning %q does not name both models", w)
	}
	for _, tc := range [][2]string{{"Qwen/Qwen2-0.5B", "models/qwen2-0.5b"}, {"tiny-llama", filepath.Join(dir, "tiny-llama") + "/"}, {"", "x"}, {"stories260K", ""}} {
		if w := BaseMismatch(tc[0], dir, tc[1], "stories260K"); w != "" {
			t.Errorf("BaseMismatch(%q, %q) = %q, want none", tc[0], tc[1], w)
		}
	}
}

// TestWeightedRefusesExtras: add_weighted_adapter would drop what is not
// LoRA on linear layers; it is refused by name.
func TestWeightedRefusesExtras(t *testing.T) {
	_, lm := tinyLlama(t, "tiny-llama")
	if err := lm.Load(peftDir("emb-llama"), "e"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, lm.AddWeighted("w", []string{"e"}, []float64{1}, "linear"), `adapter "e" has LoRA on the embedding`)
	cfg := DefaultConfig()
	cfg.TargetModules = List("q_proj")
	cfg.ModulesToSave = []string{"lm_head"}
	if err := lm.Add("s", cfg, "", 1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, lm.AddWeighted("w", []string{"s"}, []float64{1}, "linear"), `adapter "s" has modules_to_save`)
}

// TestEnsureWeightTyingRefused: PEFT's tied copies are not implemented.
func TestEnsureWeightTyingRefused(t *testing.T) {
	_, lm := tinyLlama(t, "tiny-qwen2")
	cfg, err := ParseConfig([]byte(`{"r": 4, "target_modules": ["q_proj"], "modules_to_save": ["lm_head"], "ensure_weight_tying": true}`))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, lm.Add("a", cfg, "", 1), "ensure_weight_tying")
}

// TestAllLinearLeavesEmbedding: "all-linear" is PEFT's every linear layer
// but the head; the embedding is no linear layer.
func TestAllLinearLeavesEmbedding(t *testing.T) {
	_, lm := tinyLlama(t, "tiny-llama")
	cfg := DefaultConfig()
	cfg.TargetModules = Regex("all-linear")
	if err := lm.Add("a", cfg, "", 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range lm.Params() {
		if strings.Contains(p.Name, "embed") || strings.Contains(p.Name, "lm_head") {
			t.Errorf("all-linear adapted %s", p.Name)
		}
	}
}

// TestResidualInitRoundTrip: a PiSSA or OLoRA adapter is trained against
// the residual W - s·B0·A0; loading it onto the original base redoes that
// residual, as PEFT's load does, so the loaded adapter computes what the
// trained one did (and merges to it).
func TestResidualInitRoundTrip(t *testing.T) {
	for _, init := range []string{"pissa", "olora"} {
		base := peftDir("tiny-llama")
		ids, targets, B, T := peftBatch(t, base)
		m, lm := tinyLlama(t, "tiny-llama")
		cfg := DefaultConfig()
		cfg.R, cfg.LoraAlpha = 4, 8
		cfg.TargetModules = List("q_proj", "v_proj")
		if err := lm.Add(DefaultName, cfg, init, 1); err != nil {
			t.Fatal(err)
		}
		for _, p := range lm.Params() { // "training"
			for i := range p.W.Data {
				p.W.Data[i] *= 1 + 0.05*float32(i%5-2)
			}
		}
		want := m.Loss(ids, targets, B, T)
		dir := t.TempDir()
		if err := lm.Save(dir); err != nil {
			t.Fatal(err)
		}
		m2, lm2 := tinyLlama(t, "tiny-llama")
		if err := lm2.Load(dir, DefaultName); err != nil {
			t.Fatal(err)
		}
		if got := m2.Loss(ids, targets, B, T); math.Abs(got-want) > 1e-5 {
			t.Errorf("%s: loaded adapter loss %.7f, trained %.7f", init, got, want)
		}
		if err := lm2.MergeAndUnload(true); err != nil {
			t.Fatal(err)
		}
		if got := m2.Loss(ids, targets, B, T); math.Abs(got-want) > 1e-5 {
			t.Errorf("%s: merged loss %.7f, trained %.7f", init, got, want)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
		os.WriteFile(filepath.Join(dir, ConfigFile), []byte(strings.Replace(string(raw), `"`+init+`"`, `"corda"`, 1)), 0o644)
		_, lm3 := tinyLlama(t, "tiny-llama")
		wantErr(t, lm3.Load(dir, DefaultName), `init_lora_weights "corda"`, "residual base")
	}
}
