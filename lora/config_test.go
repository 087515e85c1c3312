package lora

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

func TestMatches(t *testing.T) {
	cases := []struct {
		name   string
		json   string
		module string
		head   bool
		want   bool
	}{
		{"list exact", `{"target_modules": ["q_proj"]}`, "q_proj", false, true},
		{"list suffix", `{"target_modules": ["q_proj"]}`, "model.layers.0.self_attn.q_proj", false, true},
		{"list partial word", `{"target_modules": ["proj"]}`, "model.layers.0.self_attn.q_proj", false, false},
		{"dotted suffix", `{"target_modules": ["attn.c_proj"]}`, "transformer.h.0.attn.c_proj", false, true},
		{"dotted suffix other", `{"target_modules": ["attn.c_proj"]}`, "transformer.h.0.mlp.c_proj", false, false},
		{"bare suffix both", `{"target_modules": ["c_proj"]}`, "transformer.h.0.mlp.c_proj", false, true},
		{"regex full", `{"target_modules": ".*\\.(q|v)_proj"}`, "model.layers.1.self_attn.v_proj", false, true},
		{"regex not partial", `{"target_modules": "q_proj"}`, "model.layers.1.self_attn.q_proj", false, false},
		{"all-linear", `{"target_modules": "all-linear"}`, "model.layers.0.mlp.up_proj", false, true},
		{"all-linear head", `{"target_modules": "all-linear"}`, "lm_head", true, false},
		{"exclude list", `{"target_modules": "all-linear", "exclude_modules": ["down_proj"]}`, "model.layers.0.mlp.down_proj", false, false},
		{"exclude regex", `{"target_modules": ["q_proj"], "exclude_modules": ".*layers\\.1\\..*"}`, "model.layers.1.self_attn.q_proj", false, false},
		{"layers_to_transform in", `{"target_modules": ["q_proj"], "layers_to_transform": [1]}`, "model.layers.1.self_attn.q_proj", false, true},
		{"layers_to_transform out", `{"target_modules": ["q_proj"], "layers_to_transform": [1]}`, "model.layers.0.self_attn.q_proj", false, false},
		{"layers_to_transform int", `{"target_modules": ["c_attn"], "layers_to_transform": 0}`, "transformer.h.0.attn.c_attn", false, true},
		{"layers_pattern", `{"target_modules": ["q_proj"], "layers_to_transform": [0], "layers_pattern": "layers"}`, "model.layers.0.self_attn.q_proj", false, true},
		{"layers_pattern miss", `{"target_modules": ["q_proj"], "layers_to_transform": [0], "layers_pattern": "h"}`, "model.layers.0.self_attn.q_proj", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Matches(c.module, c.head); got != c.want {
				t.Errorf("Matches(%q) = %v, want %v", c.module, got, c.want)
			}
		})
	}
}

func TestRankAlphaPatterns(t *testing.T) {
	// The first key in file order wins, even when a later one also matches.
	cfg, err := ParseConfig([]byte(`{"r": 4, "lora_alpha": 8, "use_rslora": false,
		"rank_pattern": {"layers.1.self_attn.v_proj": 16, "v_proj": 2},
		"alpha_pattern": {"v_proj": 4, "model.layers.1.self_attn.v_proj": 32}}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		module  string
		r       int
		alpha   float64
		scaling float64
	}{
		{"model.layers.1.self_attn.v_proj", 16, 4, 0.25},
		{"model.layers.0.self_attn.v_proj", 2, 4, 2},
		{"model.layers.0.self_attn.q_proj", 4, 8, 2},
		{"model.layers.11.self_attn.v_proj", 2, 4, 2}, // "layers.1." must not match "layers.11."
	}
	for _, c := range cases {
		r, a := cfg.RankAlpha(c.module)
		if r != c.r || a != c.alpha || cfg.Scaling(c.module) != c.scaling {
			t.Errorf("%s: r %d alpha %g scaling %g, want %d %g %g", c.module, r, a, cfg.Scaling(c.module), c.r, c.alpha, c.scaling)
		}
	}
	cfg.UseRSLoRA = true
	if got := cfg.Scaling("model.layers.0.self_attn.q_proj"); got != 4 {
		t.Errorf("rsLoRA scaling 8/√4 = %g, want 4", got)
	}
}

func TestConfigRoundTripKeepsUnknownKeys(t *testing.T) {
	src := `{"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj"], "lora_dropout": 0.05,
		"init_lora_weights": "gaussian", "use_dora": true, "modules_to_save": ["lm_head"],
		"future_option": {"a": [1, 2.5]}, "task_type": "CAUSAL_LM"}`
	cfg, err := ParseConfig([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "future_option") {
		t.Errorf("warnings %v, want one about future_option", cfg.Warnings)
	}
	path := filepath.Join(t.TempDir(), ConfigFile)
	if err := cfg.Write(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{`"future_option": {`, `2.5`, `"lora_dropout": 0.05`, `"init_lora_weights": "gaussian"`, `"use_dora": true`, `"peft_type": "LORA"`, `"target_parameters": null`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("written config lacks %s:\n%s", want, data)
		}
	}
	back, err := ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.R != 16 || back.LoraAlpha != 32 || back.LoraDropout != 0.05 || !back.UseDoRA ||
		back.InitLoraWeights != "gaussian" || strings.Join(back.TargetModules.Names, ",") != "k_proj,q_proj" ||
		strings.Join(back.ModulesToSave, ",") != "lm_head" || string(back.Extra["future_option"]) == "" {
		t.Errorf("round trip lost values: %+v", back)
	}
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.R != 8 || cfg.LoraAlpha != 8 || cfg.LoraDropout != 0 || cfg.Bias != "none" || cfg.InitLoraWeights != "true" {
		t.Errorf("defaults %+v differ from PEFT's", cfg)
	}
	for _, bad := range []string{`{"r": 0}`, `{"bias": "some"}`, `{"lora_dropout": 1.5}`, `{"target_modules": "("}`, `{"r": "x"}`} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestRSLoRAFixtureScales(t *testing.T) {
	cfg, err := ReadConfig(testutil.Shared(t, "fixtures", "lora-tiny-llama-rslora"))
	if err != nil {
		t.Fatal(err)
	}
	for mod, r := range readReference(t, "lora-tiny-llama-rslora") {
		gr, ga := cfg.RankAlpha(mod)
		if gr != r.R || ga != r.Alpha || cfg.Scaling(mod) != r.Scaling {
			t.Errorf("%s: r %d alpha %g scaling %g, want %+v", mod, gr, ga, cfg.Scaling(mod), r)
		}
	}
}

// FuzzConfig: whatever parses writes back to a config that parses to the
// same values.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "rank_pattern": {"a": 2, "b": 3}}`))
	f.Add([]byte(`{"target_modules": ".*proj", "layers_to_transform": 1, "new": [1, {"x": null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			return // e.g. a value Python's json could not hold either
		}
		d, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("rewritten config does not parse: %v\n%s", err, out)
		}
		if c.R != d.R || c.LoraAlpha != d.LoraAlpha || c.UseDoRA != d.UseDoRA || c.TargetModules.IsRegex != d.TargetModules.IsRegex ||
			len(c.RankPattern) < len(d.RankPattern) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, d)
		}
	})
}
