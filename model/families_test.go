package model_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// familyRef is a testdata/families folder's reference.json.
type familyRef struct {
	InputIDs     [][]int `json:"input_ids"`
	Loss         float64 `json:"loss"`
	GreedyPrompt []int   `json:"greedy_prompt"`
	GreedyIDs    []int   `json:"greedy_ids"`
	PEFTLoss     float64 `json:"peft_loss"`
	ModelType    string  `json:"model_type"`
}

var familyDirs = []string{"llama3", "qwen3", "gemma3", "gemma2", "phi3", "olmo2", "smollm3", "granite", "mistral-sw"}

func readFamily(t *testing.T, dir string) familyRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r familyRef
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return r
}

// batch flattens rows into (B, T) ids and HF's shifted causal-LM targets.
func batch(rows [][]int) (ids, targets []int, B, T int) {
	B, T = len(rows), len(rows[0])
	for _, r := range rows {
		ids = append(ids, r...)
		targets = append(targets, r[1:]...)
		targets = append(targets, model.IgnoreIndex)
	}
	return ids, targets, B, T
}

// TestFamilies checks each tiny model written by transformers 5.17 (see
// testdata/families/README.md) against transformers' float64 run: logits
// within 1e-4, loss within 1e-5, 20 greedy tokens through the KV cache
// identical, the real PEFT adapter's loss within 1e-5, and the merged
// adapter giving the adapter's logits.
func TestFamilies(t *testing.T) {
	for _, name := range familyDirs {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "families", name)
			ref := readFamily(t, dir)
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Config().ModelType; got != ref.ModelType {
				t.Fatalf("model_type %q, reference %q", got, ref.ModelType)
			}
			want, err := testutil.ReadSafetensors(filepath.Join(dir, "reference.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			ids, targets, B, T := batch(ref.InputIDs)
			logits := m.Forward(ids, B, T)
			testutil.AllClose(t, "logits", logits, testutil.Get(t, want, "logits").F, 0, 1e-4)
			if loss := m.Loss(ids, targets, B, T); math.Abs(loss-ref.Loss) > 1e-5 {
				t.Errorf("loss %.7f, transformers %.7f", loss, ref.Loss)
			}
			// SaveHF writes the family's own names and config back.
			saved := t.TempDir()
			if err := m.SaveHF(saved); err != nil {
				t.Fatal(err)
			}
			m2, err := model.Load(saved)
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "reloaded logits", m2.Forward(ids, B, T), testutil.Get(t, want, "logits").F, 0, 1e-4)

			c := m.NewCache(1, len(ref.GreedyPrompt)+len(ref.GreedyIDs))
			row := ref.GreedyPrompt
			var got []int
			for range ref.GreedyIDs {
				l, err := m.Step(c, [][]int{row})
				if err != nil {
					t.Fatal(err)
				}
				next := generate.Argmax(l)
				got = append(got, next)
				row = []int{next}
			}
			if !slices.Equal(got, ref.GreedyIDs) {
				t.Errorf("greedy ids\n got %v\nwant %v", got, ref.GreedyIDs)
			}

			// The PEFT adapter (all-linear, so Phi-3's fused qkv_proj and
			// gate_up_proj too), then merged into the weights.
			m.SetTrainable(nil)
			lm := lora.ForModel(m)
			names, err := lm.LoadDir(filepath.Join(dir, "lora"), "default", m)
			if err != nil {
				t.Fatal(err)
			}
			if err := lm.SetActive(names...); err != nil {
				t.Fatal(err)
			}
			if loss := m.Loss(ids, targets, B, T); math.Abs(loss-ref.PEFTLoss) > 1e-5 {
				t.Errorf("adapter loss %.7f, PEFT %.7f", loss, ref.PEFTLoss)
			}
			adapted := append([]float32(nil), m.Forward(ids, B, T)...)
			if err := lm.MergeAndUnload(true); err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "merged logits", m.Forward(ids, B, T), testutil.To64(adapted), 0, 1e-4)
			if loss := m.Loss(ids, targets, B, T); math.Abs(loss-ref.PEFTLoss) > 1e-5 {
				t.Errorf("merged loss %.7f, PEFT %.7f", loss, ref.PEFTLoss)
			}
		})
	}
}

// TestTargetAliases: every short target name of every family names real
// linear layers (Phi-3's q/k/v its fused qkv_proj, gate/up its gate_up_proj),
// and PEFT's all-linear adapts every block linear, fused ones included.
func TestTargetAliases(t *testing.T) {
	for _, name := range familyDirs {
		m, err := model.Load(filepath.Join("testdata", "families", name))
		if err != nil {
			t.Fatal(err)
		}
		al := model.TargetAliases(m.Config())
		for _, short := range []string{"q", "k", "v", "o", "gate", "up", "down"} {
			mod, ok := al[short]
			if !ok {
				t.Errorf("%s: no alias for %q", name, short)
				continue
			}
			n := 0
			for _, l := range m.Linears() {
				if strings.HasSuffix(l.Name, "."+mod) {
					n++
				}
			}
			if n != m.Config().NumHiddenLayers {
				t.Errorf("%s: %q -> %q matches %d linears, want one per layer", name, short, mod, n)
			}
		}
		if name == "phi3" && (al["q"] != "qkv_proj" || al["v"] != "qkv_proj" || al["gate"] != "gate_up_proj" || al["up"] != "gate_up_proj") {
			t.Errorf("phi3 aliases %v", al)
		}
		lm := lora.ForModel(m)
		cfg := lora.DefaultConfig()
		cfg.TargetModules = lora.Regex("all-linear")
		if err := lm.Add("default", cfg, "", 1); err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, l := range m.Linears() {
			if !l.Head {
				want++
			}
		}
		if got := len(lm.Layers()); got != want {
			t.Errorf("%s: all-linear adapted %d of %d block linears", name, got, want)
		}
	}
}
