package lora

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
)

// LoadDir loads what Save wrote into dir onto mdl, the way PEFT's
// PeftModel.from_pretrained loads the default adapter: the LoRA (or DoRA)
// adapter at dir itself under name, or a bottleneck adapter when dir holds
// one, plus every bottleneck adapter in a direct subfolder (golora train
// --method lora+adapter saves its bottleneck part in dir/adapter). LoRA
// adapters in subfolders are other named adapters and are not loaded. It
// returns the LoRA adapter names loaded, for SetActive.
func (m *Model) LoadDir(dir, name string, mdl model.Model) ([]string, error) {
	c := mdl.Config()
	loadOne := func(d, n string) error {
		if isLoRADir(d) {
			return m.Load(d, n)
		}
		return m.LoadBottleneck(d, n, mdl, c.NumHiddenLayers, c.HiddenSize)
	}
	var loaded []string
	top := !fileMissing(filepath.Join(dir, ConfigFile))
	if top {
		if err := loadOne(dir, name); err != nil {
			return nil, err
		}
		loaded = append(loaded, name)
	}
	subs, _ := os.ReadDir(dir)
	found := top
	for _, e := range subs {
		sub := filepath.Join(dir, e.Name())
		if !e.IsDir() || fileMissing(filepath.Join(sub, ConfigFile)) || isLoRADir(sub) {
			continue
		}
		n := name + "." + e.Name()
		if err := loadOne(sub, n); err != nil {
			return nil, err
		}
		loaded = append(loaded, n)
		found = true
	}
	if !found {
		return nil, fmt.Errorf("lora: %s holds no %s (neither a PEFT adapter nor a bottleneck adapter)", dir, ConfigFile)
	}
	return loaded, nil
}

func fileMissing(p string) bool {
	_, err := os.Stat(p)
	return err != nil
}

// isLoRADir reports whether dir's adapter_config.json is not a bottleneck
// one; an unreadable or malformed config counts as LoRA, so Load reports it.
func isLoRADir(dir string) bool {
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return false
	}
	var probe struct {
		AdapterType string `json:"adapter_type"`
	}
	return json.Unmarshal(raw, &probe) != nil || probe.AdapterType != "bottleneck"
}

// BaseModel returns the base_model_name_or_path the adapter folders record
// (each as LoadDir reads it: the top adapter_config.json and bottleneck
// adapters in subfolders), "" when none records one. Folders that record
// different bases are an error: there is no one model to load them on.
func BaseModel(dirs []string) (string, error) {
	base, from := "", ""
	for _, dir := range dirs {
		cfgs := []string{filepath.Join(dir, ConfigFile)}
		subs, _ := os.ReadDir(dir)
		for _, e := range subs {
			if sub := filepath.Join(dir, e.Name()); e.IsDir() && !fileMissing(filepath.Join(sub, ConfigFile)) && !isLoRADir(sub) {
				cfgs = append(cfgs, filepath.Join(sub, ConfigFile))
			}
		}
		found := false
		for _, p := range cfgs {
			raw, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			found = true
			var c struct {
				Base *string `json:"base_model_name_or_path"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				return "", fmt.Errorf("lora: %s: %w", p, err)
			}
			if c.Base == nil || *c.Base == "" {
				continue
			}
			if base != "" && *c.Base != base {
				return "", fmt.Errorf("lora: %s records base model %q but %s records %q; give --model", p, *c.Base, from, base)
			}
			base, from = *c.Base, p
		}
		if !found {
			return "", fmt.Errorf("lora: %s holds no %s", dir, ConfigFile)
		}
	}
	return base, nil
}

// Attach loads the adapter folders dirs (saved by golora train or PEFT) onto
// m for inference, as golora generate, chat, eval, merge and export do with
// --adapter A,B: m is frozen, the first folder's adapters are named as
// LoadDir names DefaultName's, the next ones "adapter1", "adapter2", ...,
// all of them are active and frozen (Freeze), and training mode (dropout) is off. base, when
// not nil, is where m was loaded from (a path, a hub id for a cached model,
// "" for the embedded one), compared with each adapter's
// base_model_name_or_path (BaseMismatch); a model built in memory passes
// nil. The warnings (each adapter's Config.Warnings and a base mismatch)
// name their folder, for the caller to show. No folders: nil, nil, nil.
func Attach(m model.Model, dirs []string, base *string) (*Model, []string, error) {
	if len(dirs) == 0 {
		return nil, nil, nil
	}
	m.SetTrainable(nil)
	lm := ForModel(m)
	var active, warnings []string
	for i, dir := range dirs {
		name := DefaultName
		if i > 0 {
			name = fmt.Sprintf("adapter%d", i)
		}
		names, err := lm.LoadDir(dir, name, m)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			c := lm.Config(n)
			if c == nil {
				continue // a bottleneck adapter: no LoRA config
			}
			for _, w := range c.Warnings {
				warnings = append(warnings, fmt.Sprintf("adapter %s: %s", dir, w))
			}
			if base != nil {
				if w := BaseMismatch(c.BaseModelNameOrPath, dir, *base, embedded.Name); w != "" {
					warnings = append(warnings, fmt.Sprintf("adapter %s: %s", dir, w))
				}
			}
		}
		active = append(active, names...)
	}
	if len(active) > 0 {
		if err := lm.SetActive(active...); err != nil {
			return nil, nil, err
		}
	}
	lm.SetTrain(false)
	// Attached adapters are used, not trained: no gradient buffers, and
	// no per-forward copy of B to watch for a training step.
	for _, n := range active {
		lm.Freeze(n)
	}
	return lm, warnings, nil
}
