package lora

import (
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
