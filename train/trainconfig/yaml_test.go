package trainconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/train"
)

func loadString(t *testing.T, text string) (train.Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := train.DefaultConfig()
	c.Explicit = map[string]bool{}
	err := LoadYAML(&c, p)
	return c, err
}

// TestMLXAliases: an mlx_lm.lora config as its users write it sets the same
// settings under golora's names.
func TestMLXAliases(t *testing.T) {
	c, err := loadString(t, `model: models/qwen
train: true
test: false
data: data/
fine_tune_type: dora
iters: 600
batch_size: 2
learning_rate: 2e-5
max_seq_length: 512
adapter_path: adapters
steps_per_eval: 50
val_batches: 5
steps_per_report: 10
save_every: 100
mask_prompt: true
lora_parameters:
  keys: ["self_attn.q_proj", "self_attn.v_proj"]
  rank: 16
  scale: 2.0
  dropout: 0.05
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != "models/qwen" || c.Data != "data/" || c.Method != "dora" || c.Steps != 600 || c.Batch != 2 || c.LR != 2e-5 ||
		c.SeqLen != 512 || c.Out != "adapters" || c.EvalEvery != 50 || c.EvalBatches != 5 || c.LogEvery != 10 || c.SaveEvery != 100 || c.TrainOnAll {
		t.Errorf("top-level aliases: %+v", c)
	}
	if c.R != 16 || c.Alpha != 32 || c.Dropout != 0.05 || strings.Join(c.Targets, ",") != "self_attn.q_proj,self_attn.v_proj" {
		t.Errorf("lora_parameters: r %d alpha %g (want scale 2 x rank 16) dropout %g targets %v", c.R, c.Alpha, c.Dropout, c.Targets)
	}
	for _, k := range []string{"steps", "lr", "r", "alpha", "targets", "train-on-all"} {
		if !c.Explicit[k] {
			t.Errorf("--%s not marked as given", k)
		}
	}
	c, err = loadString(t, "mask_prompt: false\nlora_parameters: {rank: 4, alpha: 8}\n")
	if err != nil || !c.TrainOnAll || c.R != 4 || c.Alpha != 8 {
		t.Errorf("mask_prompt false / lora alpha: %v %+v", err, c)
	}
}

// TestYAMLErrors: every mistake is reported with the file, the line and
// the key in the user's terms, not Go's.
func TestYAMLErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"steps: 10\niterz: 5\n", []string{"run.yaml: line 2", `unknown key "iterz"`, `did you mean "iters"`}},
		{"learning-rate: 1\n", []string{"line 1", `unknown key "learning-rate"`, `did you mean "learning_rate"`}},
		{"lr: fast\n", []string{"line 1", "lr: want a number, got \"fast\""}},
		{"batch: 2.5\n", []string{"batch: want a whole number"}},
		{"pack: maybe\n", []string{"pack: want true or false"}},
		{"iters: 10\nsteps: 20\n", []string{"line 2", "steps sets --steps, already set on line 1"}},
		{"lora_parameters:\n  rnk: 4\n", []string{"line 2", "lora_parameters.rnk", "rank, alpha, scale, dropout and keys"}},
		{"test: true\n", []string{"golora eval"}},
		{"steps: [1\n", []string{"run.yaml", "YAML syntax"}},
		{"- steps\n", []string{"line 1", "key: value"}},
	} {
		_, err := loadString(t, tc.text)
		if err == nil {
			t.Errorf("%q: no error", tc.text)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not say %q", tc.text, err, w)
			}
		}
		if strings.Contains(err.Error(), "train.Config") || strings.Contains(err.Error(), "unmarshal") {
			t.Errorf("%q: error speaks Go: %v", tc.text, err)
		}
	}
}

// TestApplyKeys: an experiment's parsed train keys go through the same
// decoding, aliases included; errors name the key but no line of a file
// the user never wrote.
func TestApplyKeys(t *testing.T) {
	c := train.DefaultConfig()
	targets := c.Targets
	if err := ApplyKeys(&c, map[string]any{"iters": 5, "targets": "q, k", "lr": 0.01}); err != nil {
		t.Fatal(err)
	}
	if c.Steps != 5 || strings.Join(c.Targets, ",") != "q,k" || c.LR != 0.01 || strings.Join(targets, ",") != "q,v" {
		t.Errorf("ApplyKeys: steps %d targets %v lr %g (defaults' targets now %v)", c.Steps, c.Targets, c.LR, targets)
	}
	err := ApplyKeys(&c, map[string]any{"learning-rate": 1})
	if err == nil || !strings.Contains(err.Error(), `train keys: unknown key "learning-rate"`) || strings.Contains(err.Error(), "line") {
		t.Errorf("unknown key: %v", err)
	}
}
