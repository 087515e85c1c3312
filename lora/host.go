package lora

import "github.com/golora/golora/model"

// Targets lists a model's linear layers as adapter targets.
func Targets(m model.Model) []Target {
	var ts []Target
	for _, l := range m.Linears() {
		ts = append(ts, Target{Name: l.Name, L: l.Linear, Head: l.Head, Conv1D: l.Conv1D})
	}
	return ts
}

// ForModel prepares a loaded model for adapters: its linear layers become
// the targets and its weight count the base of Summary. Freeze the base
// first (m.SetTrainable(nil)): SetTrainable drops the bias gradients that
// bias "all"/"lora_only" allocate.
func ForModel(m model.Model) *Model {
	n := 0
	for _, p := range m.Params() {
		n += p.W.Len()
	}
	lm := New(Targets(m), n)
	lm.ModelType = m.Config().ModelType
	e := m.Embedding()
	lm.SetEmbedding(EmbeddingTarget{Name: e.Name, W: e.W, Tied: e.Tied, Hook: e.Delta, Untie: m.Untie})
	return lm
}

// AddBottleneckToModel adds bottleneck adapter name after the chosen
// sublayers of every block of m.
func (m *Model) AddBottleneckToModel(name string, cfg *BottleneckConfig, mdl model.Model, seed uint64) error {
	c := mdl.Config()
	return m.AddBottleneck(name, cfg, mdl, c.NumHiddenLayers, c.HiddenSize, seed)
}
