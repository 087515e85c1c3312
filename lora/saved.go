package lora

import "github.com/golora/golora/tensor"

// savedModule is PEFT's modules_to_save for one linear layer: a full,
// trainable copy of the layer that replaces it while its adapter is active
// (e.g. a classification head or a resized lm_head). Only linear layers
// offered as targets can be saved this way.
type savedModule struct {
	W, B   *tensor.Tensor // copies of the layer's weight and bias
	DW, DB *tensor.Tensor
}

// baseWeights is a layer's own weights, put back when no active adapter
// saves it.
type baseWeights struct {
	W, B, DW, DB *tensor.Tensor
}

// savesModule is PEFT's modules_to_save match: the module name or a
// "."-suffix of it.
func (c *Config) savesModule(module string) bool {
	return matchesList(c.ModulesToSave, module)
}

// addSaved gives adapter name a trainable copy of every layer its config
// lists in modules_to_save.
func (m *Model) addSaved(name string, cfg *Config) {
	if len(cfg.ModulesToSave) == 0 {
		return
	}
	for _, s := range m.sets {
		if !cfg.savesModule(s.Module) {
			continue
		}
		if s.base == nil {
			l := s.Linear
			s.base = &baseWeights{W: l.W, B: l.B, DW: l.DW, DB: l.DB}
		}
		sm := &savedModule{W: s.base.W.Clone(), DW: tensor.New(s.base.W.Shape...)}
		if s.base.B != nil {
			sm.B, sm.DB = s.base.B.Clone(), tensor.New(s.base.B.Shape...)
		}
		if s.saved == nil {
			s.saved = map[string]*savedModule{}
		}
		s.saved[name] = sm
	}
}

// applySaved puts the first active adapter's copy (or the base weights)
// into each saved layer.
func (s *Set) applySaved(active []string, disabled bool) {
	if s.base == nil {
		return
	}
	l := s.Linear
	l.W, l.B, l.DW, l.DB = s.base.W, s.base.B, s.base.DW, s.base.DB
	if disabled {
		return
	}
	for _, n := range active {
		if sm := s.saved[n]; sm != nil {
			l.W, l.B, l.DW, l.DB = sm.W, sm.B, sm.DW, sm.DB
			return
		}
	}
}

// savedParams lists the copies of the active adapters, as PEFT saves them:
// base_model.model.<module>.weight / .bias.
func (m *Model) savedParams(names []string) []Param {
	var ps []Param
	for _, s := range m.sets {
		for _, n := range names {
			sm := s.saved[n]
			if sm == nil {
				continue
			}
			ps = append(ps, Param{Name: KeyPrefix + s.Module + ".weight", Adapter: n, Group: GroupSaved, W: sm.W, G: sm.DW})
			if sm.B != nil {
				ps = append(ps, Param{Name: KeyPrefix + s.Module + ".bias", Adapter: n, Group: GroupSaved, W: sm.B, G: sm.DB})
			}
		}
	}
	return ps
}

// firstSaved is the active adapter whose copies are in place on each saved
// layer (the first active one that saves the layer, per layer; listed once).
func (m *Model) firstSaved() []string {
	var out []string
	for _, s := range m.sets {
		for _, n := range m.active {
			if s.saved[n] != nil {
				if !slicesContains(out, n) {
					out = append(out, n)
				}
				break
			}
		}
	}
	return out
}
