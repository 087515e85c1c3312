package trainconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/golora/golora/train"
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

	def := train.DefaultConfig()
	tests := []struct {
		name    string
		args    []string
		check   func(c train.Config) string
		wantErr string
	}{
		{"defaults", nil, func(c train.Config) string {
			if !reflect.DeepEqual(c, def) {
				return "not the defaults"
			}
			return ""
		}, ""},
		{"yaml over defaults", []string{"--config", yamlPath}, func(c train.Config) string {
			if c.LR != 0.003 || c.R != 4 || c.Batch != 2 || c.Schedule != "linear" || strings.Join(c.Targets, ",") != "q,k,v" || c.Alpha != def.Alpha {
				return "yaml not applied"
			}
			return ""
		}, ""},
		{"flags over yaml", []string{"--r", "16", "--config", yamlPath, "--targets", "v", "--batch", "4"}, func(c train.Config) string {
			if c.R != 16 || c.Batch != 4 || strings.Join(c.Targets, ",") != "v" || c.LR != 0.003 {
				return "flags did not win"
			}
			return ""
		}, ""},
		{"flag equal to default still wins", []string{"--config", yamlPath, "--lr", "0.001"}, func(c train.Config) string {
			if c.LR != 0.001 {
				return "explicit --lr 0.001 lost to yaml"
			}
			return ""
		}, ""},
		{"targets as a string", []string{"--config", csvPath}, func(c train.Config) string {
			if strings.Join(c.Targets, ",") != "q,o" {
				return "targets " + strings.Join(c.Targets, ",")
			}
			return ""
		}, ""},
		{"empty yaml", []string{"--config", emptyPath}, func(c train.Config) string { return "" }, ""},
		{"unknown yaml key", []string{"--config", badPath}, nil, "learning-rate"},
		{"missing yaml", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "nope.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := train.DefaultConfig()
			fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
			RegisterFlags(fs, &c)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := Resolve(&c, fs, train.DefaultConfig())
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

// TestEveryFlagHasYAMLKey: every golora train flag the issue lists exists,
// and every flag can be set from --config (a train.Config field whose yaml key is
// the flag name), so a new flag cannot silently be left out of YAML.
func TestEveryFlagHasYAMLKey(t *testing.T) {
	keys := map[string]bool{}
	ct := reflect.TypeOf(train.Config{})
	for i := 0; i < ct.NumField(); i++ {
		keys[strings.Split(ct.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	c := train.DefaultConfig()
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	RegisterFlags(fs, &c)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && !keys[f.Name] {
			t.Errorf("--%s has no yaml key in train.Config", f.Name)
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
	if err := LoadYAML(&c, p); err != nil || c.ValidFraction != 0.2 || !c.TrainOnAll || !c.Pack || !c.SkipBad {
		t.Errorf("data settings from YAML: %v %+v", err, c)
	}
}
