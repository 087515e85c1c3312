package lora

import (
	"math"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/model"
)

// fixtureBatch reads a base fixture's inputs.json as HF causal-LM
// ids/targets (labels = input_ids shifted, last position ignored).
func fixtureBatch(t *testing.T, dir string) (ids, targets []int, B, T int) {
	t.Helper()
	return testutil.CausalBatch(t, dir, model.IgnoreIndex)
}

func fixtureLoss(t *testing.T, dir string) float64 {
	t.Helper()
	return testutil.ReferenceLoss(t, dir)
}

// TestModelParity runs each PEFT adapter fixture through the real model:
// logits, loss and every lora_A/lora_B gradient against the float64
// reference, then the merged model's logits.
func TestModelParity(t *testing.T) {
	for _, fx := range adapterFixtures {
		t.Run(fx, func(t *testing.T) {
			dir := testutil.Shared(t, "fixtures", fx)
			baseDir := testutil.Shared(t, "fixtures", baseOf(t, fx))
			mdl, err := model.Load(baseDir)
			if err != nil {
				t.Fatal(err)
			}
			mdl.SetTrainable(nil)
			lm := ForModel(mdl)
			if err := lm.Load(dir, DefaultName); err != nil {
				t.Fatal(err)
			}
			want := testutil.Fixture(t, fx, "reference.safetensors")
			ids, targets, B, T := fixtureBatch(t, baseDir)
			lm.ZeroGrad()
			loss := mdl.Loss(ids, targets, B, T)
			logits := append([]float32(nil), mdl.Forward(ids, B, T)...)
			testutil.AllClose(t, "logits", logits, testutil.Get(t, want, "logits").F, 0, 2e-6)
			if wl := fixtureLoss(t, dir); math.Abs(loss-wl) > 1e-6 {
				t.Errorf("loss %.9f, want %.9f", loss, wl)
			}
			// Loss again so Backward sees its own forward.
			mdl.Loss(ids, targets, B, T)
			mdl.Backward()
			n := 0
			for _, p := range lm.Params() {
				w := testutil.Get(t, want, "grad."+p.Name)
				testutil.GradClose(t, "grad."+p.Name, p.G.Data, w.F, 1e-5, 1e-6)
				n++
			}
			nWant := 0
			for k := range want {
				if strings.HasPrefix(k, "grad.") {
					nWant++
				}
			}
			if n != nWant {
				t.Errorf("%d adapter gradients, reference has %d", n, nWant)
			}
			if fx == "lora-tiny-llama-init" {
				for _, p := range lm.Params() {
					if p.Group == GroupA && testutil.MaxAbs(p.G.Data) != 0 {
						t.Errorf("%s: Init[A] first-step gradient of A must be exactly 0", p.Name)
					}
				}
			}
			if err := lm.MergeAndUnload(true); err != nil {
				t.Fatal(err)
			}
			merged := mdl.Forward(ids, B, T)
			testutil.AllClose(t, "merged logits", merged, testutil.Get(t, want, "logits").F, 0, 2e-6)
		})
	}
}
