package model

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestFamilyRegistry: every family file registered its model_types, each
// with all its parts, and a config of each builds with its --targets
// aliases naming modules the model has.
func TestFamilyRegistry(t *testing.T) {
	want := []string{"gemma2", "gemma3_text", "gpt2", "granite", "llama", "mistral", "olmo2", "phi3", "qwen2", "qwen3", "smollm3"}
	if got := FamilyNames(); !slices.Equal(got, want) {
		t.Fatalf("FamilyNames() = %v, want %v", got, want)
	}
	for _, mt := range want {
		f := families[mt]
		if f.normalize == nil || f.arch == nil || f.names == nil || f.targets == nil {
			t.Errorf("%s: family registered without all its parts", mt)
			continue
		}
		cfg := &Config{ModelType: mt, VocabSize: 32, HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1,
			NumAttentionHeads: 2, NumKeyValueHeads: 1, MaxPositionEmbeddings: 16, NEmbd: 16, NLayer: 1, NHead: 2, NPositions: 16}
		m, err := NewRandom(cfg, 1)
		if err != nil {
			t.Errorf("%s: %v", mt, err)
			continue
		}
		var modules []string
		for _, l := range m.Linears() {
			modules = append(modules, l.Name)
		}
		for short, mod := range TargetAliases(m.Config()) {
			if mod == "wte" {
				continue // the embedding, not a linear
			}
			if !slices.ContainsFunc(modules, func(n string) bool { return n == mod || strings.HasSuffix(n, "."+mod) }) {
				t.Errorf("%s: --targets %s -> %s names no linear of %v", mt, short, mod, modules)
			}
		}
	}
	if _, err := ParseConfig([]byte(`{"model_type": "bert"}`), "config.json"); !errors.Is(err, ErrUnsupportedModel) {
		t.Errorf("unregistered model_type: %v", err)
	}
}
