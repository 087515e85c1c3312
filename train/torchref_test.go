package train

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
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
	GradAccum            int     `json:"grad_accum"`
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
	GradAccum     int     `json:"grad_accum"`
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
			cfg, tr := torchTrainer(t, common, c)
			got := runSteps(t, tr)
			lossErr, wErr := torchErrors(t, c.Name, got, cfg.Out)
			if lossErr > 1e-5 {
				t.Errorf("worst per-step loss error %.2g relative (want <= 1e-5)", lossErr)
			}
			if wErr > 1e-4 {
				t.Errorf("worst final-weight error %.2g of the tensor's max |value| (want <= 1e-4)", wErr)
			}
			t.Logf("losses %.6f -> %.6f: worst step error %.2g relative, final weights %.2g", got[0].Loss, got[len(got)-1].Loss, lossErr, wErr)
			sameConfig(t, filepath.Join(cfg.Out, lora.ConfigFile), filepath.Join(cfg.InitAdapter, lora.ConfigFile))
		})
	}
}

// TestTorchReferenceSensitivity shows the comparison can fail: each
// deliberate departure from the reference's optimiser settings takes the
// losses or the final weights out of tolerance.
func TestTorchReferenceSensitivity(t *testing.T) {
	common, cases := readTorchCases(t)
	byName := map[string]torchCase{}
	for _, c := range cases {
		byName[c.Name] = c
	}
	mistakes := []struct {
		name, caseName string
		cfg            func(*Config)
		params         func([]Param) // nil: none
	}{
		{"adam eps 1e-6", "llama-lora", func(c *Config) { c.Eps = 1e-6 }, nil},
		{"adam beta2 0.99", "llama-lora", func(c *Config) { c.Beta2 = 0.99 }, nil},
		{"no weight decay", "llama-lora", func(c *Config) { c.WeightDecay = 0 }, nil},
		{"no clipping", "llama-lora", func(c *Config) { c.MaxGradNorm = 0 }, nil},
		{"warmup off by one", "gpt2-lora", func(c *Config) { c.Warmup++ }, nil},
		{"linear schedule", "gpt2-lora", func(c *Config) { c.Schedule = "linear" }, nil},
		{"LoRA+ ratio ignored", "gpt2-loraplus", func(c *Config) { c.LoRAPlusRatio = 1 }, nil},
		{"shuffled batches", "gpt2-lora", func(c *Config) { c.DataOrder = "shuffle" }, nil},
		{"no accumulation", "llama-rslora-accum2", func(c *Config) { c.GradAccum = 1 }, nil},
		{"DoRA magnitude decayed", "llama-dora", func(*Config) {}, func(ps []Param) {
			for i := range ps {
				ps[i].NoDecay = false
			}
		}},
	}
	for _, m := range mistakes {
		t.Run(m.name, func(t *testing.T) {
			cfg, tr := torchTrainer(t, common, byName[m.caseName], m.cfg)
			if m.params != nil {
				m.params(tr.Task.Params())
			}
			lossErr, wErr := torchErrors(t, m.caseName, runSteps(t, tr), cfg.Out)
			if lossErr <= 1e-5 && wErr <= 1e-4 {
				t.Errorf("%s on %s still matches: loss error %.2g, weights %.2g", m.name, m.caseName, lossErr, wErr)
			}
			t.Logf("%s on %s: loss error %.2g, weights %.2g", m.name, m.caseName, lossErr, wErr)
		})
	}
}

// torchTrainer sets up golora for a reference case, with the settings of
// cases.json (changed by the optional edit before Setup).
func torchTrainer(t *testing.T, common torchCommon, c torchCase, edit ...func(*Config)) (Config, *Trainer) {
	t.Helper()
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
	cfg.GradAccum = common.GradAccum
	if c.GradAccum != 0 {
		cfg.GradAccum = c.GradAccum
	}
	cfg.EvalEvery, cfg.SaveEvery = 0, 0
	for _, e := range edit {
		e(&cfg)
	}
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
	return tr.Config, tr
}

// runSteps runs tr to the end and returns its step records.
func runSteps(t *testing.T, tr *Trainer) []StepRecord {
	t.Helper()
	var got []StepRecord
	tr.OnStep = func(r StepRecord) { got = append(got, r) }
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return got
}

// torchErrors compares a run with reference case name: the worst relative
// per-step loss error and the worst final-weight error (max |diff| over the
// tensor's max |value|) of the adapter saved in out. Steps whose learning
// rate or gradient norm differ are reported too.
func torchErrors(t *testing.T, name string, got []StepRecord, out string) (lossErr, weightErr float64) {
	t.Helper()
	var ref struct {
		Loss     []float64 `json:"loss"`
		GradNorm []float64 `json:"grad_norm"`
		LR       []float64 `json:"lr"`
	}
	b, err := os.ReadFile(filepath.Join(torchRefDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ref.Loss) {
		t.Fatalf("%d steps, reference has %d", len(got), len(ref.Loss))
	}
	for i, r := range got {
		lossErr = max(lossErr, math.Abs(r.Loss-ref.Loss[i])/math.Abs(ref.Loss[i]))
	}
	return lossErr, weightError(t, filepath.Join(out, lora.WeightsFile), filepath.Join(torchRefDir, name+".safetensors"))
}

// weightError compares the saved adapter with the reference: the same
// keys (else the test fails), and the largest max |diff| / max |value| over
// its tensors.
func weightError(t *testing.T, gotPath, refPath string) float64 {
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
	worst := 0.0
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
		worst = max(worst, diff/scale)
	}
	return worst
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

// TestTorchReferenceRegenerates reruns tools/torchref/train_ref.py (when
// Debian's python3-torch is installed) on a copy of the inputs and checks
// that it rewrites the committed reference files byte for byte, so they are
// what the committed script computes. CI does not need torch: the outputs
// are committed; GOLORA_REQUIRE_TORCHREF=1 turns the skip into a failure.
func TestTorchReferenceRegenerates(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not rerunning the PyTorch reference")
	}
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import torch, numpy").Run(); err != nil {
		if os.Getenv("GOLORA_REQUIRE_TORCHREF") != "" {
			t.Fatalf("%s with torch and numpy is required (GOLORA_REQUIRE_TORCHREF): %v", python, err)
		}
		t.Skipf("%s cannot import torch and numpy (apt-get install python3-torch python3-numpy); committed references used as they are", python)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(torchRefDir)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("..", "tools", "torchref", "train_ref.py"), dir)
	// The references were written with Debian's reference BLAS; OpenBLAS
	// (installed for the bench/ baselines) rounds float32 sums differently.
	if ref := "/usr/lib/x86_64-linux-gnu/blas"; dirExists(ref) {
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+ref+":/usr/lib/x86_64-linux-gnu/lapack")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("train_ref.py: %v\n%s", err, out)
	}
	err = filepath.WalkDir(torchRefDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(torchRefDir, path)
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the script writes different bytes than the committed file", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
