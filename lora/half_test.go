package lora

import (
	"strings"
	"testing"

	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
)

// TestHalfBaseRefusals: plain LoRA attaches to a BF16 base; DoRA, PiSSA
// and merging, which need float32 base weights, are refused by name.
func TestHalfBaseRefusals(t *testing.T) {
	m, err := model.LoadWith("", model.Options{BaseDType: "bf16"})
	if err != nil {
		t.Fatal(err)
	}
	if model.BaseDTypeOf(m) != tensor.BF16 {
		t.Fatal("embedded model not converted to bf16")
	}
	lm := ForModel(m)
	cfg := DefaultConfig()
	cfg.TargetModules = List("q_proj", "v_proj")
	if err := lm.Add("plain", cfg, "true", 1); err != nil {
		t.Fatalf("plain LoRA on a bf16 base: %v", err)
	}
	dora := DefaultConfig()
	dora.TargetModules = List("k_proj")
	dora.UseDoRA = true
	if err := lm.Add("dora", dora, "true", 1); err == nil || !strings.Contains(err.Error(), "--base-dtype f32") {
		t.Errorf("DoRA on a bf16 base: %v", err)
	}
	pissa := DefaultConfig()
	pissa.TargetModules = List("o_proj")
	if err := lm.Add("pissa", pissa, "pissa", 1); err == nil || !strings.Contains(err.Error(), "float32 base") {
		t.Errorf("PiSSA on a bf16 base: %v", err)
	}
	if err := lm.Merge(true, "plain"); err == nil || !strings.Contains(err.Error(), "cannot merge") {
		t.Errorf("merge into a bf16 base: %v", err)
	}
}
