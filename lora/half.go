package lora

import "fmt"

// checkHalfBase refuses what needs a float32 base weight when the targeted
// layers keep theirs in BF16/F16 (--base-dtype): PiSSA/OLoRA rewrite W,
// DoRA and the data-driven inits read it as float32. Plain LoRA only
// multiplies by W, which the half kernels do.
func checkHalfBase(name string, cfg *Config, hit []*Set, residual bool) error {
	for _, s := range hit {
		if !s.Linear.W.IsHalf() {
			continue
		}
		switch {
		case residual, cfg.UseDoRA, cfg.InitLoraWeights != "" && cfg.InitLoraWeights != "true" && cfg.InitLoraWeights != "gaussian" && cfg.InitLoraWeights != "false":
			return fmt.Errorf("lora: adapter %q: %s keeps its base weight in %v; init_lora_weights=%q / use_dora need a float32 base (use --base-dtype f32)", name, s.Module, s.Linear.W.DType, cfg.InitLoraWeights)
		}
	}
	return nil
}

// checkMergeable refuses merging into a BF16/F16 base (adapters, saved
// modules, embedding LoRA and trainable tokens all write into the base's
// float32 values): load the base as float32 to merge (golora merge does),
// then save in the dtype wanted.
func (m *Model) checkMergeable(names []string) error {
	for _, s := range m.sets {
		if s.Linear.W.IsHalf() {
			return fmt.Errorf("lora: cannot merge %v into %s: its base weight is kept in %v (load the base with --base-dtype f32)", names, s.Module, s.Linear.W.DType)
		}
	}
	if m.emb != nil && m.emb.W.IsHalf() {
		return fmt.Errorf("lora: cannot merge %v: the embedding %s is kept in %v (load the base with --base-dtype f32)", names, m.emb.Name, m.emb.W.DType)
	}
	return nil
}
