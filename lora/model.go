package lora

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Target is one linear layer a model offers for adapters, named as PEFT
// names the module (model.layers.0.self_attn.q_proj).
type Target struct {
	Name   string
	L      *nn.Linear
	Head   bool // the output head: "all-linear" leaves it out
	Conv1D bool // GPT-2 Conv1D: stored [in, out] on disk
}

// DefaultTargets is PEFT's target_modules per model_type, used when a config
// names none (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
var DefaultTargets = map[string][]string{
	"llama":   {"q_proj", "v_proj"},
	"mistral": {"q_proj", "v_proj"},
	"qwen2":   {"q_proj", "v_proj"},
	"gpt2":    {"c_attn"},
	// PEFT has no default for phi3, olmo2, smollm3 and granite (it asks
	// for target_modules), so neither does golora.
	"qwen3":       {"q_proj", "v_proj"},
	"gemma2":      {"q_proj", "v_proj"},
	"gemma3_text": {"q_proj", "v_proj"},
}

// Model holds named adapters over one base model (PEFT's LoraModel): it
// injects them into the model's linear layers as nn.Delta, and adds, selects,
// disables, deletes, merges and saves them.
type Model struct {
	// BaseParams is the base model's parameter count, for Summary.
	BaseParams int
	// ModelType is the base's HF model_type; it picks PEFT's default
	// target_modules when a config names none.
	ModelType string

	sets    []*Set // targets in model order
	byName  map[string]*Set
	configs map[string]*Config
	names   []string // adapters in insertion order
	active  []string
	hooks   map[string][]*Bottleneck // bottleneck adapters by name
	hookCfg map[string]*BottleneckConfig
	host    HookHost // where bottleneck adapters are installed

	emb      *embSet               // the token embedding, nil when not offered
	headTok  *headTokens           // trainable tokens on the output head
	headRows map[string]*tokenRows // per adapter: the head's trained rows
}

// New prepares targets for adapters; baseParams counts the base model's
// parameters (for the PEFT summary line).
func New(targets []Target, baseParams int) *Model {
	m := &Model{BaseParams: baseParams, byName: map[string]*Set{}, configs: map[string]*Config{},
		hooks: map[string][]*Bottleneck{}, hookCfg: map[string]*BottleneckConfig{},
		headTok: &headTokens{}, headRows: map[string]*tokenRows{}}
	for _, t := range targets {
		s := newSet(t)
		m.sets = append(m.sets, s)
		m.byName[t.Name] = s
	}
	return m
}

// Layer returns the per-layer state of a module, or nil.
func (m *Model) Layer(module string) *Set { return m.byName[module] }

// Layers lists the layers holding at least one adapter, in model order.
func (m *Model) Layers() []*Set {
	var out []*Set
	for _, s := range m.sets {
		if len(s.order) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Config returns the named adapter's config, or nil.
func (m *Model) Config(name string) *Config { return m.configs[name] }

// Names lists the LoRA adapters in the order they were added.
func (m *Model) Names() []string { return append([]string(nil), m.names...) }

// ActiveNames lists the active adapters.
func (m *Model) ActiveNames() []string { return append([]string(nil), m.active...) }

// Add creates adapter name on every module cfg targets, initialised by
// init (a name from Inits; "" uses cfg.InitLoraWeights) from seed. The first
// adapter added becomes active. PiSSA and OLoRA replace the base weights by
// their residuals.
func (m *Model) Add(name string, cfg *Config, init string, seed uint64) error {
	if init == "" {
		init = cfg.InitLoraWeights
	}
	f, err := InitByName(init)
	if err != nil {
		return err
	}
	cfg = cfg.Clone()
	switch strings.ToLower(init) {
	case "init_b":
		cfg.InitLoraWeights = "false" // PEFT's nearest value: B starts random
	case "", "default", "init_a":
		cfg.InitLoraWeights = "true"
	default:
		cfg.InitLoraWeights = strings.ToLower(init)
	}
	return m.add(name, cfg, f, seed, false)
}

func (m *Model) add(name string, cfg *Config, init InitFunc, seed uint64, loading bool) error {
	if name == "" {
		return errors.New("lora: empty adapter name")
	}
	if _, dup := m.configs[name]; dup {
		return fmt.Errorf("lora: adapter %q already exists", name)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("lora: adapter %q: %w", name, err)
	}
	if cfg.TargetModules.Empty() {
		def, ok := DefaultTargets[m.ModelType]
		if !ok {
			return fmt.Errorf("lora: adapter %q: target_modules is empty and model_type %q has no PEFT default", name, m.ModelType)
		}
		cfg.TargetModules = List(def...)
	}
	if err := m.checkNames(cfg); err != nil {
		return fmt.Errorf("lora: adapter %q: %w", name, err)
	}
	var hit []*Set
	for _, s := range m.sets {
		if cfg.Matches(s.Module, s.Head) {
			if d := s.Linear.Delta; d != nil && d != nn.Delta(s) {
				return fmt.Errorf("lora: %s already has a delta of type %T", s.Module, d)
			}
			if cfg.savesModule(s.Module) {
				return fmt.Errorf("lora: adapter %q: %s is in both target_modules and modules_to_save", name, s.Module)
			}
			hit = append(hit, s)
		}
	}
	embLoRA := m.emb != nil && cfg.targetsEmbedding(m.emb.Name)
	if len(hit) == 0 && !embLoRA {
		return fmt.Errorf("lora: adapter %q: target modules %v not found in the model", name, modulesValue(cfg.TargetModules))
	}
	for _, s := range hit { // before allocating: a hostile r is an error, not an out-of-memory
		in, out := float64(s.Linear.In()), float64(s.Linear.Out())
		if r, _ := cfg.RankAlpha(s.Module); float64(r)*(in+out) > 2*in*out+maxAdapterSlack {
			return fmt.Errorf("lora: adapter %q: r %d on %s (%dx%d) needs %.3g weights, more than twice the layer's own %.3g; lower r (--r)",
				name, r, s.Module, s.Linear.Out(), s.Linear.In(), float64(r)*(in+out), in*out)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	embInit := cfg.InitLoraWeights
	if loading {
		embInit = "noinit"
	}
	installEmb, err := m.addEmbedding(name, cfg, embInit, rng)
	if err != nil {
		return err
	}
	installHead, err := m.addHeadTokens(name, cfg)
	if err != nil {
		return err
	}
	// PEFT corrects fan_in_fan_out to the layer type, with a warning.
	if len(hit) > 0 && hit[0].Conv1D != cfg.FanInFanOut {
		cfg.FanInFanOut = hit[0].Conv1D
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("fan_in_fan_out set to %v to match %s", cfg.FanInFanOut, hit[0].Module))
	}
	residual := strings.HasPrefix(cfg.InitLoraWeights, "pissa") || cfg.InitLoraWeights == "olora"
	if err := checkHalfBase(name, cfg, hit, residual); err != nil {
		return err
	}
	if residual { // these change the base weights: fail before the first
		for _, s := range hit {
			if r, _ := cfg.RankAlpha(s.Module); r > min(s.Linear.In(), s.Linear.Out()) {
				return fmt.Errorf("lora: adapter %q: %s needs r <= %d on %s, got %d", name, cfg.InitLoraWeights, min(s.Linear.In(), s.Linear.Out()), s.Module, r)
			}
		}
	}
	var made []*Adapter
	for i, s := range hit {
		r, alpha := cfg.RankAlpha(s.Module)
		a := NewAdapter(name, s.Module, s.Linear, r, alpha, cfg.UseRSLoRA, seed+uint64(i)+1)
		a.Dropout = float32(cfg.LoraDropout)
		a.Variant = variantFor(cfg, s.Linear.Out())
		if err := init(a, s.Linear.W.Data, rng); err != nil {
			return err
		}
		if cfg.LoraBias { // zero at start, as PEFT initialises it
			a.Bias = tensor.New(s.Linear.Out())
			if s.Linear.B == nil {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("lora_bias on %s, whose base layer has no bias: the adapter cannot be merged (as in PEFT)", s.Module))
			}
		}
		if residual {
			a.A0, a.B0 = a.A.Clone(), a.B.Clone()
		}
		if a.Variant != nil {
			a.Variant.Init(a, s.Linear.W.Data)
		}
		a.EnableGrad()
		made = append(made, a)
	}
	for i, s := range hit {
		s.adapters[name] = made[i]
		s.order = append(s.order, name)
		s.Linear.Delta = s
		if cfg.Bias == "all" || cfg.Bias == "lora_only" {
			enableBiasGrad(s.Linear)
		}
	}
	if cfg.Bias == "all" {
		for _, s := range m.sets {
			enableBiasGrad(s.Linear)
		}
	}
	m.addSaved(name, cfg)
	installEmb()
	installHead()
	m.configs[name] = cfg
	m.names = append(m.names, name)
	if len(m.active) == 0 {
		m.active = []string{name}
	}
	m.applyActive()
	return nil
}

// maxAdapterSlack lets tiny layers take ranks above their size (tests,
// toy models) while bounding what a config can make add allocate.
const maxAdapterSlack = 1 << 16

func enableBiasGrad(l *nn.Linear) {
	if l.B != nil && l.DB == nil {
		l.DB = tensor.New(l.B.Shape...)
	}
}

// SetActive makes names the active adapters (applied in that order) and
// re-enables adapters after Disable.
func (m *Model) SetActive(names ...string) error {
	for _, n := range names {
		if _, ok := m.configs[n]; !ok {
			if _, ok := m.hookCfg[n]; !ok {
				return fmt.Errorf("lora: no adapter %q (have %v)", n, m.names)
			}
		}
	}
	m.active = append([]string(nil), names...)
	m.applyActive()
	m.setDisabled(false)
	return nil
}

func (m *Model) applyActive() {
	m.applyAux(false)
	for _, s := range m.sets {
		s.applySaved(m.active, s.disabled)
		s.active = s.active[:0]
		for _, n := range m.active {
			if a := s.adapters[n]; a != nil {
				s.active = append(s.active, a)
			}
		}
	}
	for name, hs := range m.hooks {
		on := slices.Contains(m.active, name)
		for _, h := range hs {
			h.Enabled = on
		}
	}
}

// Disable runs the base model alone (PEFT's disable_adapter) until
// SetActive or Enable.
func (m *Model) Disable() { m.setDisabled(true) }

// Enable undoes Disable.
func (m *Model) Enable() { m.setDisabled(false) }

func (m *Model) setDisabled(off bool) {
	m.applyAux(off)
	for _, s := range m.sets {
		s.disabled = off
		s.applySaved(m.active, off)
	}
	for name, hs := range m.hooks {
		for _, h := range hs {
			h.Enabled = !off && slices.Contains(m.active, name)
		}
	}
}

// Freeze drops the gradients of the named adapter on every linear layer
// (Adapter.Freeze): a server's adapters are never trained.
func (m *Model) Freeze(name string) {
	for _, s := range m.sets {
		if a := s.adapters[name]; a != nil {
			a.Freeze()
		}
	}
}

// SetTrain switches dropout on (training) or off (evaluation).
func (m *Model) SetTrain(on bool) {
	for _, s := range m.sets {
		for _, a := range s.adapters {
			a.Train = on
		}
	}
}

// Delete removes an adapter from every layer; a merged adapter must be
// unmerged first.
func (m *Model) Delete(name string) error {
	if _, ok := m.configs[name]; !ok {
		if _, ok := m.hookCfg[name]; ok {
			for _, h := range m.hooks[name] {
				m.host.SetSublayerHook(h.Layer, h.Site, nil)
			}
			delete(m.hookCfg, name)
			delete(m.hooks, name)
			m.active = slices.DeleteFunc(m.active, func(s string) bool { return s == name })
			return nil
		}
		return fmt.Errorf("lora: no adapter %q", name)
	}
	for _, s := range m.sets {
		if a := s.adapters[name]; a != nil && s.isMerged(a) {
			return fmt.Errorf("lora: adapter %q is merged into %s; unmerge it first", name, s.Module)
		}
	}
	if e := m.emb; e != nil {
		delete(e.lora, name)
		delete(e.saved, name)
		delete(e.tokens, name)
	}
	delete(m.headRows, name)
	for _, s := range m.sets {
		delete(s.saved, name)
		if s.adapters[name] == nil {
			continue
		}
		delete(s.adapters, name)
		s.order = slices.DeleteFunc(s.order, func(n string) bool { return n == name })
		if len(s.order) == 0 && len(s.merged) == 0 {
			s.Linear.Delta = nil
		}
	}
	delete(m.configs, name)
	m.names = slices.DeleteFunc(m.names, func(n string) bool { return n == name })
	m.active = slices.DeleteFunc(m.active, func(n string) bool { return n == name })
	m.applyActive()
	return nil
}

// Merge adds the named adapters (default: the active ones) into the base
// weights, W ← W + s·B·A (DoRA: m ⊙ (W + s·B·A)/‖·‖). With safe, every
// merged weight is computed aside and checked for NaN/Inf before any layer
// changes, so a broken adapter leaves the model untouched.
func (m *Model) Merge(safe bool, names ...string) error {
	if len(names) == 0 {
		names = m.active
	}
	if err := m.checkMergeable(names); err != nil {
		return err
	}
	type job struct {
		s *Set
		a *Adapter
		w []float32
	}
	var jobs []job
	if err := m.checkBias(names); err != nil {
		return err
	}
	for _, s := range m.sets {
		var pending []float32 // chained merges of several adapters on one layer
		for _, n := range names {
			a := s.adapters[n]
			if a == nil || s.isMerged(a) {
				continue
			}
			if !safe {
				a.mergeInto(s.Linear.W.Data, s.Linear.W.Data)
				a.mergeBias(s.Linear.B, 1)
				s.merged = append(s.merged, a)
				continue
			}
			src := s.Linear.W.Data
			if pending != nil {
				src = pending
			}
			w := make([]float32, len(src))
			a.mergeInto(w, src)
			for i, v := range w {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("lora: merging adapter %q into %s gives a non-finite weight at %d; nothing was merged", n, s.Module, i)
				}
			}
			pending = w
			jobs = append(jobs, job{s, a, w})
		}
	}
	for _, j := range jobs {
		copy(j.s.Linear.W.Data, j.w)
		j.a.mergeBias(j.s.Linear.B, 1)
		j.s.merged = append(j.s.merged, j.a)
	}
	return nil
}

// checkBias refuses to merge a lora_bias into a layer that has no bias,
// as PEFT does.
func (m *Model) checkBias(names []string) error {
	for _, s := range m.sets {
		for _, n := range names {
			if a := s.adapters[n]; a != nil && a.Bias != nil && s.Linear.B == nil && !s.isMerged(a) {
				return fmt.Errorf("lora: adapter %q has lora_bias on %s, whose base layer has no bias to merge it into (PEFT: impossible to merge LoRA with lora_bias=True because the base layer has no bias); nothing was merged", n, s.Module)
			}
		}
	}
	return nil
}

// Unmerge subtracts every merged adapter again, newest first.
func (m *Model) Unmerge() {
	for _, s := range m.sets {
		for i := len(s.merged) - 1; i >= 0; i-- {
			s.merged[i].unmergeFrom(s.Linear.W.Data)
			s.merged[i].mergeBias(s.Linear.B, -1)
		}
		s.merged = s.merged[:0]
	}
}

// MergeAndUnload merges the active adapters and removes every adapter,
// leaving a plain model (PEFT's merge_and_unload) that computes what the
// adapted model did: LoRA deltas and lora_bias go into the weights and
// biases, modules_to_save copies replace their layers, LoRA on the
// embedding and trainable tokens go into the table. A tied embedding and
// head that the adapters change differently are untied first (PEFT's merge
// unties them for modules_to_save too). Active bottleneck adapters cannot
// be folded (they are non-linear): MergeAndUnload refuses them by name;
// DropBottlenecks removes them first when only the LoRA part is wanted.
func (m *Model) MergeAndUnload(safe bool) error {
	var hooks []string
	for _, n := range m.active {
		if m.hookCfg[n] != nil && !m.disabledAll() {
			hooks = append(hooks, n)
		}
	}
	if len(hooks) > 0 {
		return fmt.Errorf("lora: bottleneck adapter(s) %v cannot be merged: up(f(down(h))) is non-linear and has no weight to fold into; nothing was merged (keep the adapter, or merge the LoRA part only and leave these out)", hooks)
	}
	if err := m.checkBias(m.active); err != nil {
		return err
	}
	if safe {
		for _, p := range m.Params() {
			for i, v := range p.W.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("lora: %s has a non-finite value at %d; nothing was merged", p.Name, i)
				}
			}
		}
	}
	if m.splitsTied() {
		if m.emb.Untie == nil {
			return fmt.Errorf("lora: the adapters change the tied %s and output head differently, and this model cannot be untied; nothing was merged", m.emb.Name)
		}
		h := m.headSet()
		if h != nil && h.base != nil { // put the head's own weights back to untie them
			h.applySaved(nil, true)
		}
		m.emb.Untie()
		m.emb.Tied = false
		if h != nil && h.base != nil {
			h.base.W, h.base.DW = h.Linear.W, h.Linear.DW
			h.applySaved(m.active, h.disabled)
		}
	}
	if err := m.Merge(safe); err != nil {
		return err
	}
	m.foldSaved()
	m.foldEmbedding()
	m.Unload()
	return nil
}

func (m *Model) disabledAll() bool { return len(m.sets) > 0 && m.sets[0].disabled }

// foldSaved writes the modules_to_save copies in use into the layers' own
// weights, which are what the model saves.
func (m *Model) foldSaved() {
	for _, s := range m.sets {
		if s.base == nil || s.disabled {
			continue
		}
		for _, n := range m.active {
			if sm := s.saved[n]; sm != nil {
				copy(s.base.W.Data, sm.W.Data)
				if sm.B != nil {
					copy(s.base.B.Data, sm.B.Data)
				}
				break
			}
		}
		s.applySaved(nil, true)
	}
}

// DropBottlenecks removes every bottleneck adapter and returns their names,
// for a merge of the LoRA part alone.
func (m *Model) DropBottlenecks() []string {
	var names []string
	for n := range m.hookCfg {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m.Delete(n)
	}
	return names
}

// Unload removes every adapter without merging (merged ones stay merged).
func (m *Model) Unload() {
	if e := m.emb; e != nil {
		m.SetEmbedding(e.EmbeddingTarget)
		m.emb.apply(nil, false)
	}
	m.headRows = map[string]*tokenRows{}
	m.applyHeadTokens(nil, false)
	for _, s := range m.sets {
		s.applySaved(nil, true) // the layer's own weights back
		if s.Linear.Delta == nn.Delta(s) {
			s.Linear.Delta = nil
		}
		*s = *newSet(Target{Name: s.Module, L: s.Linear, Head: s.Head, Conv1D: s.Conv1D})
	}
	for _, hs := range m.hooks {
		for _, h := range hs {
			m.host.SetSublayerHook(h.Layer, h.Site, nil)
		}
	}
	m.configs = map[string]*Config{}
	m.names, m.active = nil, nil
	m.hooks, m.hookCfg = map[string][]*Bottleneck{}, map[string]*BottleneckConfig{}
}

// SetRows routes each row of the next forward/backward to one of the active
// LoRA adapters, by index into ActiveNames() without bottleneck adapters
// (-1: base only), on every layer, the embedding and the head's trained
// token rows; nil turns routing off. Bottleneck adapters and
// modules_to_save copies of linear layers are not routed.
func (m *Model) SetRows(rows []int) {
	var loras []string
	for _, n := range m.active {
		if m.configs[n] != nil {
			loras = append(loras, n)
		}
	}
	var names []string // per row, for the embedding and head-token hooks
	if rows != nil {
		names = make([]string, len(rows))
		for i, k := range rows {
			if k >= 0 && k < len(loras) {
				names[i] = loras[k]
			}
		}
	}
	if m.emb != nil {
		m.emb.rows = names
	}
	m.headTok.route = names
	for _, s := range m.sets {
		if rows == nil {
			s.Rows = nil
			continue
		}
		// Map the model-level active index to this layer's active list,
		// which skips adapters that do not cover the layer.
		act := s.Active()
		local := make([]int, len(rows))
		for i, k := range rows {
			local[i] = -1
			if k >= 0 && k < len(loras) {
				if a := s.adapters[loras[k]]; a != nil {
					local[i] = slices.Index(act, a)
				}
			}
		}
		s.Rows = local
	}
}

// Seed reseeds every adapter's dropout stream from s, so a trainer that
// checkpoints s reproduces the same masks after a resume. Each adapter gets
// its own stream (s mixed with its layer and adapter position).
func (m *Model) Seed(s uint64) {
	for i, set := range m.sets {
		for j, name := range set.order {
			if a := set.adapters[name]; a != nil {
				a.rng = rand.New(rand.NewPCG(s, uint64(i)<<20|uint64(j)))
			}
		}
	}
}
