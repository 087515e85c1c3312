package train

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/lora"
)

// torchRefDir holds the inputs and outputs of tools/torchref/train_ref.py
// (see its README.md).
var torchRefDir = filepath.Join("testdata", "torchref")

// idsOnly is the tokenizer of a run on pre-tokenized data: it only supplies
// the padding id (EOS).
type idsOnly struct{ eos int }

func (idsOnly) Encode(string) []int { panic("torchref: the data is pre-tokenized") }
func (idsOnly) BOS() int            { return -1 }
func (e idsOnly) EOS() int          { return e.eos }

type torchCase struct {
	Name, Model, Adapter string
	LoRAPlusRatio        float64 `json:"loraplus_ratio"`
}

type torchCommon struct {
	Steps         int     `json:"steps"`
	Batch         int     `json:"batch"`
	SeqLen        int     `json:"seq_len"`
	LR            float64 `json:"lr"`
	WeightDecay   float64 `json:"weight_decay"`
	Warmup        int     `json:"warmup"`
	Schedule      string  `json:"schedule"`
	MaxGradNorm   float64 `json:"max_grad_norm"`
	Beta1         float64 `json:"adam_beta1"`
	Beta2         float64 `json:"adam_beta2"`
	Eps           float64 `json:"adam_eps"`
	LoRAPlusRatio float64 `json:"loraplus_ratio"`
}

func readTorchCases(t *testing.T) (torchCommon, []torchCase) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(torchRefDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Common torchCommon
		Cases  []torchCase
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Common, f.Cases
}

// TestTorchReferenceTrajectory trains each case's adapter with golora
// (float32) from --init-adapter on --data-order file batches and compares
// every step's loss (1e-5 relative) and the final adapter tensors (max
// |diff| <= 1e-4 × the tensor's max |value|) with PyTorch's float64 run.
func TestTorchReferenceTrajectory(t *testing.T) {
	common, cases := readTorchCases(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Model = filepath.Join(torchRefDir, c.Model)
			cfg.Data = filepath.Join(torchRefDir, "train.jsonl")
			cfg.InitAdapter = filepath.Join(torchRefDir, c.Adapter)
			cfg.DataOrder = "file"
			cfg.Out = t.TempDir()
			cfg.Steps, cfg.Batch, cfg.SeqLen = common.Steps, common.Batch, common.SeqLen
			cfg.LR, cfg.WeightDecay, cfg.Warmup, cfg.Schedule = common.LR, common.WeightDecay, common.Warmup, common.Schedule
			cfg.MaxGradNorm, cfg.Beta1, cfg.Beta2, cfg.Eps = common.MaxGradNorm, common.Beta1, common.Beta2, common.Eps
			cfg.LoRAPlusRatio = common.LoRAPlusRatio
			if c.LoRAPlusRatio != 0 {
				cfg.LoRAPlusRatio = c.LoRAPlusRatio
			}
			cfg.EvalEvery, cfg.SaveEvery = 0, 0
			var mc struct {
				EOS int `json:"eos_token_id"`
			}
			b, err := os.ReadFile(filepath.Join(cfg.Model, "config.json"))
			if err != nil || json.Unmarshal(b, &mc) != nil {
				t.Fatalf("%s: %v", cfg.Model, err)
			}
			tr, err := Setup(cfg, idsOnly{mc.EOS}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tr.Log = &bytes.Buffer{}
			var got []StepRecord
			tr.OnStep = func(r StepRecord) { got = append(got, r) }
			if _, err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}

			var ref struct {
				Loss     []float64 `json:"loss"`
				GradNorm []float64 `json:"grad_norm"`
				LR       []float64 `json:"lr"`
			}
			b, err = os.ReadFile(filepath.Join(torchRefDir, c.Name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ref.Loss) {
				t.Fatalf("%d steps, reference has %d", len(got), len(ref.Loss))
			}
			worst := 0.0
			for i, r := range got {
				rel := math.Abs(r.Loss-ref.Loss[i]) / math.Abs(ref.Loss[i])
				worst = max(worst, rel)
				if rel > 1e-5 {
					t.Errorf("step %d: loss %.9f, torch %.9f (rel %.2g)", i+1, r.Loss, ref.Loss[i], rel)
				}
				if math.Abs(r.LR-ref.LR[i]) > 1e-12*ref.LR[i] {
					t.Errorf("step %d: lr %g, torch %g", i+1, r.LR, ref.LR[i])
				}
				if math.Abs(r.GradNorm-ref.GradNorm[i]) > 1e-4*ref.GradNorm[i] {
					t.Errorf("step %d: grad norm %.7f, torch %.7f", i+1, r.GradNorm, ref.GradNorm[i])
				}
			}
			t.Logf("losses %.6f -> %.6f, worst step rel error %.2g", got[0].Loss, got[len(got)-1].Loss, worst)
			compareWeights(t, filepath.Join(cfg.Out, lora.WeightsFile), filepath.Join(torchRefDir, c.Name+".safetensors"))
			sameConfig(t, filepath.Join(cfg.Out, lora.ConfigFile), filepath.Join(cfg.InitAdapter, lora.ConfigFile))
		})
	}
}

// compareWeights checks the saved adapter against the reference: the same
// keys, and every tensor within 1e-4 of the reference relative to its
// largest element.
func compareWeights(t *testing.T, gotPath, refPath string) {
	t.Helper()
	g, err := safetensors.Open(gotPath)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r, err := safetensors.Open(refPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gn, rn := g.Names(), r.Names()
	sort.Strings(gn)
	sort.Strings(rn)
	if !reflect.DeepEqual(gn, rn) {
		t.Fatalf("saved adapter keys %v, reference %v", gn, rn)
	}
	worst, worstName := 0.0, ""
	for _, n := range rn {
		want, _, err := r.Float64(n)
		if err != nil {
			t.Fatal(err)
		}
		have, _, err := g.Float64(n)
		if err != nil {
			t.Fatal(err)
		}
		scale, diff := 0.0, 0.0
		for i := range want {
			scale = max(scale, math.Abs(want[i]))
			diff = max(diff, math.Abs(have[i]-want[i]))
		}
		if rel := diff / scale; rel > worst {
			worst, worstName = rel, n
		}
		if diff > 1e-4*scale {
			t.Errorf("%s: max |golora - torch| %.3g, %.2g of its max |value| %.3g", n, diff, diff/scale, scale)
		}
	}
	t.Logf("final weights: worst max-abs error / max |value| %.2g (%s)", worst, worstName)
}

// sameConfig checks that the saved adapter_config.json says what the
// initial one said (key by key; formatting may differ).
func sameConfig(t *testing.T, gotPath, wantPath string) {
	t.Helper()
	read := func(p string) map[string]any {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return m
	}
	got, want := read(gotPath), read(wantPath)
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("saved %s: %s = %v, the initial adapter has %v", lora.ConfigFile, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("saved %s: extra key %s", lora.ConfigFile, k)
		}
	}
}
