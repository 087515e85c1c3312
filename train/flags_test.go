package train_test

// The tests of the engine that go through the command line's settings layer
// (trainconfig), which package train itself cannot import.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/golora/golora/data"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/train"
	"github.com/golora/golora/train/trainconfig"
)

// setupFromArgs resolves command-line args as golora train does and sets
// up a trainer on the tiny Llama and the reference data.
func setupFromArgs(t *testing.T, args ...string) (*train.Trainer, error) {
	t.Helper()
	cfg := train.DefaultConfig()
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	trainconfig.RegisterFlags(fs, &cfg)
	base := []string{"--model", filepath.Join(train.TorchRefDir, "tiny-llama"), "--data", filepath.Join(train.TorchRefDir, "train.jsonl"),
		"--out", t.TempDir(), "--batch", "2", "--seq-len", "16", "--steps", "2", "--eval-every", "0"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	if err := trainconfig.ResolveResume(&cfg, fs, train.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	return train.Setup(cfg, train.IDsOnly(2), nil)
}

func TestInitAdapterAdoptsConfig(t *testing.T) {
	rs := filepath.Join(train.TorchRefDir, "lora-tiny-llama-rslora")
	// --alpha's default (16) and --targets' (q,v) differ from the adapter's
	// (8; q_proj,v_proj) but were not given: the adapter's values win.
	tr, err := setupFromArgs(t, "--init-adapter", rs)
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Config
	if c.Method != "lora" || c.R != 4 || c.Alpha != 8 || !c.RSLoRA || c.Dropout != 0 || strings.Join(c.Targets, ",") != "q_proj,v_proj" {
		t.Errorf("adopted config: method %s r %d alpha %g rslora %v dropout %g targets %v", c.Method, c.R, c.Alpha, c.RSLoRA, c.Dropout, c.Targets)
	}
	task := tr.Task.(*train.ModelTask)
	lc := task.LoRA.Config(lora.DefaultName)
	if lc == nil || len(lc.RankPattern) != 1 || len(lc.AlphaPattern) != 1 {
		t.Fatalf("the adapter's rank/alpha patterns were not kept: %+v", lc)
	}
	shapes := map[string][]int{}
	for _, p := range task.Params() {
		shapes[p.Name] = p.W.Shape
	}
	if s := shapes["base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"]; !reflect.DeepEqual(s, []int{8, 64}) {
		t.Errorf("rank_pattern module lora_A %v, want [8 64]", s)
	}
	if len(shapes) != 8 {
		t.Errorf("%d trainable tensors, want 8 (A and B on q and v of 2 layers)", len(shapes))
	}

	tr, err = setupFromArgs(t, "--init-adapter", filepath.Join(train.TorchRefDir, "dora-tiny-gpt2"), "--model", filepath.Join(train.TorchRefDir, "tiny-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Config.Method != "dora" {
		t.Errorf("a use_dora adapter gives --method %s", tr.Config.Method)
	}
	n := 0
	for _, p := range tr.Task.Params() {
		if strings.HasSuffix(p.Name, ".lora_magnitude_vector") {
			n++
			if !p.NoDecay {
				t.Errorf("%s is decayed", p.Name)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d DoRA magnitudes trainable, want 4", n)
	}
}

func TestInitAdapterConflicts(t *testing.T) {
	rs := filepath.Join(train.TorchRefDir, "lora-tiny-llama-rslora")
	yamlPath := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(yamlPath, []byte("r: 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want []string // substrings of the error; nil: no error
	}{
		{[]string{"--r", "4", "--alpha", "8", "--method", "lora", "--rslora", "--targets", "q,v", "--dropout", "0"}, nil},
		{[]string{"--targets", "q_proj,v_proj"}, nil},
		{[]string{"--r", "8"}, []string{"--r 8 contradicts --init-adapter " + rs + ", whose adapter_config.json has r 4"}},
		{[]string{"--alpha", "16"}, []string{"--alpha 16 contradicts", "has lora_alpha 8"}},
		{[]string{"--method", "dora"}, []string{"--method dora contradicts", "use_dora false (method lora)"}},
		{[]string{"--rslora=false"}, []string{"--rslora false contradicts", "use_rslora true"}},
		{[]string{"--dropout", "0.1"}, []string{"--dropout 0.1 contradicts", "lora_dropout 0"}},
		{[]string{"--targets", "q,k,v"}, []string{"--targets q,k,v contradicts", "target_modules q_proj,v_proj"}},
		{[]string{"--init", "pissa"}, []string{"--init pissa contradicts"}},
		{[]string{"--config", yamlPath}, []string{"--r 8 contradicts"}},
		{[]string{"--r", "2", "--alpha", "2"}, []string{"--r 2 contradicts", "--alpha 2 contradicts"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := setupFromArgs(t, append([]string{"--init-adapter", rs}, tc.args...)...)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("agreeing settings rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := setupFromArgs(t, "--init-adapter", filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "--init-adapter") {
		t.Errorf("missing adapter folder: %v", err)
	}
	// A GPT-2 adapter on the Llama base: its modules are not there.
	_, err := setupFromArgs(t, "--init-adapter", filepath.Join(train.TorchRefDir, "lora-tiny-gpt2"))
	if err == nil || !strings.Contains(err.Error(), "--init-adapter") || !strings.Contains(err.Error(), "attn.c_attn") {
		t.Errorf("adapter for another model: %v", err)
	}

	// A bottleneck adapter (golora train --method adapter) cannot start a run.
	bt, err := setupFromArgs(t, "--method", "adapter", "--r", "4")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := bt.Task.SaveAdapter(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "adapter")} {
		_, err = setupFromArgs(t, "--init-adapter", d)
		if err == nil || !strings.Contains(err.Error(), "--init-adapter") {
			t.Errorf("bottleneck adapter %s: %v", d, err)
		}
		t.Log(err)
	}
}

// TestDataOrderFile checks --data-order file against the batching the
// README documents (and tools/torchref/train_ref.py reimplements): file
// order every epoch, B rows per batch, an epoch's last batch filled with
// padding rows; a row is an example's first n = min(len, T+1) tokens,
// inputs ids[0..n-2], targets labels[1..n-1], then pad / data.IgnoreIndex.
func TestDataOrderFile(t *testing.T) {
	const B, T, pad = 2, 16, 2
	b, err := os.ReadFile(filepath.Join(train.TorchRefDir, "train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][2][]int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			IDs    []int `json:"input_ids"`
			Labels []int `json:"labels"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Labels == nil {
			r.Labels = r.IDs
		}
		rows = append(rows, [2][]int{r.IDs, r.Labels})
	}
	tr, err := setupFromArgs(t, "--data-order", "file")
	if err != nil {
		t.Fatal(err)
	}
	perEpoch := (len(rows) + B - 1) / B
	for k := 0; k < 2*perEpoch; k++ {
		got, _ := tr.Train.Next()
		wantIDs, wantTg := make([]int, B*T), make([]int, B*T)
		for r := 0; r < B; r++ {
			for j := 0; j < T; j++ {
				wantIDs[r*T+j], wantTg[r*T+j] = pad, data.IgnoreIndex
			}
			i := (k%perEpoch)*B + r
			if i >= len(rows) {
				continue
			}
			ids, lab := rows[i][0], rows[i][1]
			n := min(len(ids), T+1)
			copy(wantIDs[r*T:], ids[:n-1])
			copy(wantTg[r*T:], lab[1:n])
		}
		if !reflect.DeepEqual(got.IDs, wantIDs) || !reflect.DeepEqual(got.Targets, wantTg) {
			t.Fatalf("batch %d:\n got ids %v targets %v\nwant ids %v targets %v", k, got.IDs, got.Targets, wantIDs, wantTg)
		}
	}
	tr, err = setupFromArgs(t)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := tr.Train.Next()
	second, _ := tr.Train.Next()
	if first.IDs[0] == rows[0][0][0] && second.IDs[0] == rows[2][0][0] {
		t.Error("the default order is file order too (want shuffled)")
	}
}

// TestResolveResume: with --resume, the settings come back from the
// checkpoint in --out, and only flags given again change them; without a
// checkpoint the run starts from the defaults.
func TestResolveResume(t *testing.T) {
	out := t.TempDir()
	saved := train.TestConfig(out)
	if _, _, _, err := train.RunTrainer(t, saved, 0); err != nil {
		t.Fatal(err)
	}
	resolve := func(args ...string) train.Config {
		t.Helper()
		c := train.DefaultConfig()
		fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
		trainconfig.RegisterFlags(fs, &c)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := trainconfig.ResolveResume(&c, fs, train.DefaultConfig()); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := resolve("--out", out, "--resume", "--steps", "30")
	want := saved
	want.Steps, want.Resume = 30, true
	if !reflect.DeepEqual(c, want) {
		t.Errorf("resumed settings:\n got %+v\nwant %+v", c, want)
	}
	fresh := t.TempDir()
	c = resolve("--out", fresh, "--resume")
	want = train.DefaultConfig()
	want.Out, want.Resume = fresh, true
	if !reflect.DeepEqual(c, want) {
		t.Errorf("--resume without a checkpoint:\n got %+v\nwant %+v", c, want)
	}
}
