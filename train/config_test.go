package train

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(yamlPath, []byte("lr: 0.003\nr: 4\nbatch: 2\ntargets: [q, k, v]\nschedule: linear\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "csv.yaml")
	os.WriteFile(csvPath, []byte("targets: q, o\n"), 0o644)
	emptyPath := filepath.Join(dir, "empty.yaml")
	os.WriteFile(emptyPath, nil, 0o644)
	badPath := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badPath, []byte("learning-rate: 1\n"), 0o644)

	def := DefaultConfig()
	tests := []struct {
		name    string
		args    []string
		check   func(c Config) string
		wantErr string
	}{
		{"defaults", nil, func(c Config) string {
			if !reflect.DeepEqual(c, def) {
				return "not the defaults"
			}
			return ""
		}, ""},
		{"yaml over defaults", []string{"--config", yamlPath}, func(c Config) string {
			if c.LR != 0.003 || c.R != 4 || c.Batch != 2 || c.Schedule != "linear" || strings.Join(c.Targets, ",") != "q,k,v" || c.Alpha != def.Alpha {
				return "yaml not applied"
			}
			return ""
		}, ""},
		{"flags over yaml", []string{"--r", "16", "--config", yamlPath, "--targets", "v", "--batch", "4"}, func(c Config) string {
			if c.R != 16 || c.Batch != 4 || strings.Join(c.Targets, ",") != "v" || c.LR != 0.003 {
				return "flags did not win"
			}
			return ""
		}, ""},
		{"flag equal to default still wins", []string{"--config", yamlPath, "--lr", "0.001"}, func(c Config) string {
			if c.LR != 0.001 {
				return "explicit --lr 0.001 lost to yaml"
			}
			return ""
		}, ""},
		{"targets as a string", []string{"--config", csvPath}, func(c Config) string {
			if strings.Join(c.Targets, ",") != "q,o" {
				return "targets " + strings.Join(c.Targets, ",")
			}
			return ""
		}, ""},
		{"empty yaml", []string{"--config", emptyPath}, func(c Config) string { return "" }, ""},
		{"unknown yaml key", []string{"--config", badPath}, nil, "learning-rate"},
		{"missing yaml", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "nope.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
			c.RegisterFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := c.Resolve(fs, DefaultConfig())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.ConfigFile = ""
			if msg := tc.check(c); msg != "" {
				t.Errorf("%s: %+v", msg, c)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("valid settings rejected: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Method = "qlora" }, "--method"},
		{func(c *Config) { c.Schedule = "step" }, "--schedule"},
		{func(c *Config) { c.R = 0 }, "--r"},
		{func(c *Config) { c.LR = 0 }, "--lr"},
		{func(c *Config) { c.Steps, c.Epochs = 0, 0 }, "--steps"},
		{func(c *Config) { c.GradAccum = 0 }, "--grad-accum"},
		{func(c *Config) { c.Dropout = 1 }, "--dropout"},
		{func(c *Config) { c.Out = "" }, "--out"},
		{func(c *Config) { c.ValidFraction = 1 }, "--valid-fraction"},
		{func(c *Config) { c.ValidFraction = -0.1 }, "--valid-fraction"},
		{func(c *Config) { c.ValidFraction, c.Valid = 0.1, "v.jsonl" }, "not both"},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want it to mention %s", err, tc.want)
		}
	}
	// Errors are reported together.
	c := DefaultConfig()
	c.LR, c.Batch = -1, 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--lr") || !strings.Contains(err.Error(), "--batch") {
		t.Errorf("want both --lr and --batch in %v", err)
	}
	// Method full needs no rank.
	c = DefaultConfig()
	c.Method, c.R = "full", 0
	if err := c.Validate(); err != nil {
		t.Errorf("--method full --r 0: %v", err)
	}
}

func TestShuffledBatchesRestore(t *testing.T) {
	ex := markovExamples(10, 6, 5, 1)
	a, err := NewShuffledBatches(ex, 3, 8, 0, 42)
	if err != nil {
		t.Fatal(err)
	}
	if a.BatchesPerEpoch() != 4 {
		t.Errorf("BatchesPerEpoch = %d, want 4", a.BatchesPerEpoch())
	}
	for i := 0; i < 7; i++ { // crosses an epoch boundary mid-batch
		b, _ := a.Next()
		if b.B != 3 || b.T != 8 || len(b.IDs) != 24 {
			t.Fatalf("batch shape %d x %d, %d ids", b.B, b.T, len(b.IDs))
		}
		// rows are padded from 6 to 8 with ignored targets
		if b.Targets[6] != IgnoreIndex || b.Targets[7] != IgnoreIndex {
			t.Fatalf("padding targets %v", b.Targets[:8])
		}
	}
	state, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewShuffledBatches(ex, 3, 8, 0, 42)
	if err := b.Restore(state); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		x, _ := a.Next()
		y, _ := b.Next()
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("batch %d after restore differs", i)
		}
	}
	if err := b.Restore([]byte(`{"epoch":0,"pos":0,"perm":[0,1]}`)); err == nil {
		t.Error("restore of a state for other data succeeded")
	}
	if _, err := NewShuffledBatches(nil, 1, 1, 0, 0); err == nil {
		t.Error("empty example set accepted")
	}
}

// TestEveryFlagHasYAMLKey: every golora train flag the issue lists exists,
// and every flag can be set from --config (a Config field whose yaml key is
// the flag name), so a new flag cannot silently be left out of YAML.
func TestEveryFlagHasYAMLKey(t *testing.T) {
	keys := map[string]bool{}
	ct := reflect.TypeOf(Config{})
	for i := 0; i < ct.NumField(); i++ {
		keys[strings.Split(ct.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	c := DefaultConfig()
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && !keys[f.Name] {
			t.Errorf("--%s has no yaml key in Config", f.Name)
		}
	})
	for _, name := range []string{"model", "data", "valid", "out", "method", "r", "alpha", "dropout", "targets", "init",
		"rslora", "lr", "loraplus-ratio", "weight-decay", "batch", "seq-len", "steps", "epochs", "grad-accum", "warmup",
		"schedule", "max-grad-norm", "eval-every", "save-every", "resume", "seed", "threads",
		"valid-fraction", "train-on-all", "pack", "skip-bad"} {
		if fs.Lookup(name) == nil {
			t.Errorf("--%s is missing", name)
		}
	}
	// And a YAML file really sets the data settings.
	p := filepath.Join(t.TempDir(), "data.yaml")
	os.WriteFile(p, []byte("valid-fraction: 0.2\ntrain-on-all: true\npack: true\nskip-bad: true\n"), 0o644)
	if err := c.LoadYAML(p); err != nil || c.ValidFraction != 0.2 || !c.TrainOnAll || !c.Pack || !c.SkipBad {
		t.Errorf("data settings from YAML: %v %+v", err, c)
	}
}

// TestResolveResume: with --resume, the settings come back from the
// checkpoint in --out, and only flags given again change them; without a
// checkpoint the run starts from the defaults.
func TestResolveResume(t *testing.T) {
	out := t.TempDir()
	saved := testConfig(out)
	if _, _, _, err := runTrainer(t, saved, 0); err != nil {
		t.Fatal(err)
	}
	resolve := func(args ...string) Config {
		t.Helper()
		c := DefaultConfig()
		fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := c.ResolveResume(fs, DefaultConfig()); err != nil {
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
	want = DefaultConfig()
	want.Out, want.Resume = fresh, true
	if !reflect.DeepEqual(c, want) {
		t.Errorf("--resume without a checkpoint:\n got %+v\nwant %+v", c, want)
	}
}
