package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// readInputs flattens inputs.json into (B, T) ids and HF's shifted targets.
func readInputs(t *testing.T, dir string) (ids, targets []int, B, T int) {
	t.Helper()
	return testutil.CausalBatch(t, dir, IgnoreIndex)
}

func referenceLoss(t *testing.T, dir string) float64 {
	t.Helper()
	return testutil.ReferenceLoss(t, dir)
}

// TestFixtures checks logits, hidden states, loss and every weight gradient
// against the float64 PyTorch references, with the README's tolerances.
func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		name, weights, reference string
		checkpointing            bool
	}{
		{name: "tiny-gpt2"},
		{name: "tiny-llama"},
		{name: "tiny-qwen2"},
		{name: "tiny-llama", checkpointing: true},
		{name: "tiny-gpt2", checkpointing: true},
		{name: "tiny-gpt2", weights: "model.bf16.safetensors", reference: "reference.bf16.safetensors"},
		{name: "tiny-gpt2", weights: "model.f16.safetensors", reference: "reference.f16.safetensors"},
	} {
		label := tc.name
		if tc.weights != "" {
			label += "/" + strings.TrimSuffix(tc.weights, ".safetensors")
		}
		if tc.checkpointing {
			label += "/checkpointing"
		}
		t.Run(label, func(t *testing.T) {
			dir := testutil.Shared(t, "fixtures", tc.name)
			path := dir
			if tc.weights != "" {
				path = filepath.Join(dir, tc.weights)
			}
			ref := "reference.safetensors"
			if tc.reference != "" {
				ref = tc.reference
			}
			want := testutil.Fixture(t, tc.name, ref)
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			m.SetCheckpointing(tc.checkpointing)
			ids, targets, B, T := readInputs(t, dir)
			logits := m.Forward(ids, B, T)
			testutil.AllClose(t, "logits", logits, testutil.Get(t, want, "logits").F, 0, 2e-6)
			if tc.weights != "" {
				return // only logits are stored for the rounded weights
			}
			for i, h := range m.HiddenStates() {
				name := "hidden_states." + string(rune('0'+i))
				testutil.AllClose(t, name, h, testutil.Get(t, want, name).F, 0, 2e-6)
			}
			m.SetTrainable(func(string) bool { return true })
			m.ZeroGrad()
			loss := m.Loss(ids, targets, B, T)
			if wl := referenceLoss(t, dir); abs(loss-wl) > 1e-6 {
				t.Errorf("loss %.9f, want %.9f", loss, wl)
			}
			m.Backward()
			nGrad := 0
			for name := range want {
				if strings.HasPrefix(name, "grad.") {
					nGrad++
				}
			}
			if ps := m.Params(); len(ps) != nGrad {
				t.Errorf("%d params, reference has %d gradients", len(ps), nGrad)
			}
			for _, p := range m.Params() {
				g := p.G.Data
				if p.Conv1D {
					g = testutil.Transpose(g, p.W.Shape[0], p.W.Shape[1])
				}
				testutil.GradClose(t, "grad."+p.Name, g, testutil.Get(t, want, "grad."+p.Name).F, 1e-5, 1e-6)
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
