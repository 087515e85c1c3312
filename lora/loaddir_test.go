package lora

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/model"
)

// TestLoadDirRoundTrip: what Save writes for LoRA, bottleneck-only and
// LoRA+bottleneck runs loads back with LoadDir onto a fresh base and gives
// the same logits.
func TestLoadDirRoundTrip(t *testing.T) {
	ids := []int{1, 403, 407, 261, 378, 432}
	for _, tc := range []struct {
		name             string
		lora, bottleneck bool
	}{{"lora", true, false}, {"bottleneck", false, true}, {"lora+bottleneck", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load("")
			if err != nil {
				t.Fatal(err)
			}
			m.SetTrainable(nil)
			lm := ForModel(m)
			if tc.lora {
				cfg := DefaultConfig()
				cfg.TargetModules = List("q_proj", "v_proj")
				// init "false": both factors random, so the adapter moves the logits.
				if err := lm.Add(DefaultName, cfg, "false", 3); err != nil {
					t.Fatal(err)
				}
			}
			if tc.bottleneck {
				if err := lm.AddBottleneckToModel("adapter", DefaultBottleneckConfig(), m, 5); err != nil {
					t.Fatal(err)
				}
				for _, hs := range lm.hooks["adapter"] {
					for _, p := range hs.params() {
						for i := range p.W.Data {
							p.W.Data[i] = 0.01 * float32(i%7-3)
						}
					}
				}
			}
			want := append([]float32(nil), m.Forward(ids, 1, len(ids))...)
			dir := t.TempDir()
			if err := lm.Save(dir); err != nil {
				t.Fatal(err)
			}
			m2, _ := model.Load("")
			m2.SetTrainable(nil)
			lm2 := ForModel(m2)
			names, err := lm2.LoadDir(dir, DefaultName, m2)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) > 0 {
				if err := lm2.SetActive(names...); err != nil {
					t.Fatal(err)
				}
			}
			base, _ := model.Load("")
			baseLogits := base.Forward(ids, 1, len(ids))
			got := m2.Forward(ids, 1, len(ids))
			moved := false
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("logit %d: reloaded %v, saved model %v", i, got[i], want[i])
				}
				moved = moved || want[i] != baseLogits[i]
			}
			if !moved {
				t.Fatal("the adapter did not change the logits: the test proves nothing")
			}
		})
	}
	_, err := ForModel(mustLoad(t)).LoadDir(t.TempDir(), DefaultName, mustLoad(t))
	if err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Fatalf("empty dir: err = %v", err)
	}
}

func mustLoad(t *testing.T) model.Model {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBaseModel reads base_model_name_or_path from adapter folders the way
// LoadDir finds adapters: the top config and bottleneck subfolders.
func TestBaseModel(t *testing.T) {
	write := func(dir, cfg string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	a, b, c, d := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c"), filepath.Join(root, "d")
	write(a, `{"peft_type":"LORA","base_model_name_or_path":"Qwen/Qwen3-0.6B"}`)
	write(b, `{"peft_type":"LORA","base_model_name_or_path":null}`)
	write(filepath.Join(b, "adapter"), `{"adapter_type":"bottleneck","base_model_name_or_path":"Qwen/Qwen3-0.6B"}`)
	write(filepath.Join(b, "other"), `{"peft_type":"LORA","base_model_name_or_path":"ignored/named-adapter"}`)
	write(c, `{"peft_type":"LORA"}`)
	write(d, `{"peft_type":"LORA","base_model_name_or_path":"meta-llama/Llama-3.2-1B"}`)
	for _, tc := range []struct {
		dirs []string
		want string
		err  string
	}{
		{[]string{a}, "Qwen/Qwen3-0.6B", ""},
		{[]string{b}, "Qwen/Qwen3-0.6B", ""},
		{[]string{c}, "", ""},
		{[]string{c, a, b}, "Qwen/Qwen3-0.6B", ""},
		{[]string{a, d}, "", "give --model"},
		{[]string{filepath.Join(root, "none")}, "", "holds no adapter_config.json"},
	} {
		got, err := BaseModel(tc.dirs)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("BaseModel(%v) = %q, %v; want %q, %q", tc.dirs, got, err, tc.want, tc.err)
		}
	}
}

// TestAttach: two folders attach as DefaultName and adapter1, both active,
// onto a frozen base in inference mode, and change the logits; a folder
// recording another base gets a warning naming the folder and both models
// (none when the base is not known), and an unknown adapter_config.json key
// its config warning.
func TestAttach(t *testing.T) {
	save := func(base string, seed uint64, extra string) string {
		m := mustLoad(t)
		m.SetTrainable(nil)
		lm := ForModel(m)
		cfg := DefaultConfig()
		cfg.TargetModules = List("q_proj", "v_proj")
		cfg.BaseModelNameOrPath = base
		if err := lm.Add(DefaultName, cfg, "false", seed); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := lm.Save(dir); err != nil {
			t.Fatal(err)
		}
		if extra != "" {
			p := filepath.Join(dir, ConfigFile)
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			raw = []byte(strings.Replace(string(raw), "{", "{"+extra+",", 1))
			if err := os.WriteFile(p, raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	same := save("", 3, "")
	other := save("other-org/other-model", 5, `"golora_test_key": 1`)
	ids := []int{1, 403, 407, 261}
	baseLogits := append([]float32(nil), mustLoad(t).Forward(ids, 1, len(ids))...)

	if lm, w, err := Attach(mustLoad(t), nil, nil); lm != nil || w != nil || err != nil {
		t.Fatalf("no folders: %v, %v, %v; want nil, nil, nil", lm, w, err)
	}
	for _, tc := range []struct {
		name string
		base *string
		want []string // substrings, one warning each
	}{
		{"base unknown", nil, []string{"adapter " + other + `: unknown key "golora_test_key"`}},
		{"embedded base", new(string), []string{"adapter " + other + `: unknown key "golora_test_key"`,
			"adapter " + other + `: the adapter was trained on "other-org/other-model"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustLoad(t)
			m.SetTrainable(func(string) bool { return true })
			lm, warnings, err := Attach(m, []string{same, other}, tc.base)
			if err != nil {
				t.Fatal(err)
			}
			if got := lm.ActiveNames(); !slices.Equal(got, []string{DefaultName, "adapter1"}) {
				t.Errorf("active %v, want [%s adapter1]", got, DefaultName)
			}
			for _, p := range m.Params() {
				if p.Trainable {
					t.Errorf("%s is trainable after Attach", p.Name)
				}
			}
			for _, s := range lm.sets {
				for n, a := range s.adapters {
					if a.Train {
						t.Errorf("%s %s left in training mode", s.Module, n)
					}
				}
			}
			if len(warnings) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %d %q, want it to contain %q", i, warnings[i], w)
				}
			}
			got := m.Forward(ids, 1, len(ids))
			if slices.Equal(got, baseLogits) {
				t.Error("the attached adapters do not change the logits")
			}
		})
	}
	if _, _, err := Attach(mustLoad(t), []string{same, t.TempDir()}, nil); err == nil {
		t.Error("a folder with no adapter: no error")
	}
}
