package lora

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// targetsEmbedding reports whether LoRA goes on the embedding named emb:
// "all-linear" never takes it (it is no linear layer).
func (c *Config) targetsEmbedding(emb string) bool {
	if t := c.TargetModules; t.IsRegex && t.Regex == "all-linear" {
		return false
	}
	return c.Matches(emb, false)
}

// EnsureWeightTying is PEFT's ensure_weight_tying (kept in Extra).
func (c *Config) EnsureWeightTying() bool {
	var b bool
	return json.Unmarshal(c.Extra["ensure_weight_tying"], &b) == nil && b
}

// checkNames refuses names that match nothing: every target_modules list
// entry, every modules_to_save entry and every trainable_token_indices key
// must name a module the model offers (PEFT drops some silently; an
// adapter meant for another model would then load as a different one).
func (m *Model) checkNames(cfg *Config) error {
	var mods []string
	for _, s := range m.sets {
		mods = append(mods, s.Module)
	}
	if m.emb != nil {
		mods = append(mods, m.emb.Name)
	}
	found := func(name string, in []string) bool {
		for _, mod := range in {
			if matchesList([]string{name}, mod) {
				return true
			}
		}
		return false
	}
	list := func() string {
		short := map[string]bool{}
		var out []string
		for _, mod := range mods {
			i := strings.LastIndexByte(mod, '.')
			if k := mod[i+1:]; !short[k] {
				short[k] = true
				out = append(out, k)
			}
		}
		return strings.Join(out, ", ")
	}
	if t := cfg.TargetModules; !t.IsRegex {
		for _, n := range t.Names {
			if !found(n, mods) {
				return fmt.Errorf("target module %q matches no module of the model (it has %s)", n, list())
			}
		}
	}
	for _, n := range cfg.ModulesToSave {
		if !found(n, mods) {
			return fmt.Errorf("modules_to_save entry %q matches no linear layer or embedding of the model (it has %s)", n, list())
		}
	}
	for _, e := range cfg.TrainableTokens {
		if e.Module == "" {
			if m.emb == nil {
				return fmt.Errorf("trainable_token_indices: the model offers no embedding")
			}
			continue
		}
		ok := m.emb != nil && matchesList([]string{e.Module}, m.emb.Name)
		if h := m.headSet(); h != nil && matchesList([]string{e.Module}, h.Module) {
			ok = true
		}
		if !ok {
			return fmt.Errorf("trainable_token_indices key %q matches neither the embedding nor the output head", e.Module)
		}
	}
	return nil
}

// addHeadTokens prepares the output head's trained rows for adapter name:
// a tied head shares the embedding's (PEFT ties the two layers), an untied
// one gets its own when trainable_token_indices names it.
func (m *Model) addHeadTokens(name string, cfg *Config) (func(), error) {
	h := m.headSet()
	if h == nil || cfg.TrainableTokens == nil {
		return func() {}, nil
	}
	ids := cfg.tokensFor(h.Module, false)
	tied := m.emb != nil && m.emb.Tied
	if tied {
		embIDs := cfg.tokensFor(m.emb.Name, true)
		if ids != nil && !slices.Equal(ids, embIDs) {
			return nil, fmt.Errorf("lora: adapter %q: trainable_token_indices gives the tied head %s other tokens than the embedding; not supported", name, h.Module)
		}
		if embIDs == nil {
			return func() {}, nil
		}
	} else if ids == nil {
		return func() {}, nil
	}
	if len(h.adapters) > 0 || len(h.saved) > 0 || cfg.savesModule(h.Module) {
		return nil, fmt.Errorf("lora: adapter %q: trainable tokens on the head %s cannot be combined with LoRA or modules_to_save on it", name, h.Module)
	}
	if d := h.Linear.Delta; d != nil && d != m.headTok {
		return nil, fmt.Errorf("lora: %s already has a delta of type %T", h.Module, d)
	}
	for _, id := range ids {
		if id < 0 || id >= h.Linear.Out() {
			return nil, fmt.Errorf("lora: adapter %q: trainable_token_indices: token id %d outside the head %s (%d rows)", name, id, h.Module, h.Linear.Out())
		}
	}
	return func() {
		if tied {
			m.headRows[name] = m.emb.tokens[name]
		} else {
			m.headRows[name] = newTokenRows(ids, h.Linear.W)
		}
	}, nil
}

// applyAux updates the embedding and head-token hooks after a change of
// the active adapters or Disable.
func (m *Model) applyAux(off bool) {
	if m.emb != nil {
		m.emb.apply(m.active, off)
	}
	m.applyHeadTokens(m.active, off)
}

// BaseMismatch compares the base an adapter records
// (base_model_name_or_path, resolved against adapterDir when relative and
// present there) with the model loaded, modelPath ("" for embeddedName),
// and returns a warning naming both, or "" when they agree or the adapter
// records none. Hub ids and local folders are compared by their last path
// element, case-insensitively ("Qwen/Qwen2-0.5B" is "models/qwen2-0.5b").
func BaseMismatch(recorded, adapterDir, modelPath, embeddedName string) string {
	if recorded == "" {
		return ""
	}
	loaded := modelPath
	if loaded == "" {
		loaded = embeddedName
	}
	last := func(p string) string {
		p = strings.TrimRight(filepath.ToSlash(p), "/")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			p = filepath.ToSlash(filepath.Dir(p)) // a .safetensors or .bin file: its folder
		}
		return strings.ToLower(p[strings.LastIndexByte(p, '/')+1:])
	}
	if last(recorded) == last(loaded) {
		return ""
	}
	if !filepath.IsAbs(recorded) && adapterDir != "" {
		if a, err := filepath.Abs(filepath.Join(adapterDir, recorded)); err == nil {
			if b, err := filepath.Abs(loaded); err == nil && a == b {
				return ""
			}
		}
	}
	if modelPath == "" && strings.EqualFold(strings.TrimSuffix(last(recorded), ".bin"), embeddedName) {
		return ""
	}
	return fmt.Sprintf("the adapter was trained on %q (base_model_name_or_path) but is loaded onto %q; its shapes fit, but outputs will differ if these are different models", recorded, loaded)
}

// extras names what adapter name holds beside LoRA on linear layers
// (modules_to_save, LoRA on the embedding, trainable tokens, lora_bias), or
// "" when nothing.
func (m *Model) extras(name string) string {
	var out []string
	c := m.configs[name]
	if c != nil && len(c.ModulesToSave) > 0 {
		out = append(out, "modules_to_save")
	}
	if e := m.emb; e != nil && e.lora[name] != nil {
		out = append(out, "LoRA on the embedding")
	}
	if c != nil && c.TrainableTokens != nil {
		out = append(out, "trainable tokens")
	}
	if c != nil && c.LoraBias {
		out = append(out, "lora_bias")
	}
	return strings.Join(out, ", ")
}
