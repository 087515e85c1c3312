package lora

import (
	"os"
	"path/filepath"
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
