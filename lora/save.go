package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// WeightsFile is the name PEFT gives an adapter's tensors.
const WeightsFile = "adapter_model.safetensors"

// DefaultName is PEFT's name for the first adapter; it is saved at the top
// of the output directory, any other adapter in a subfolder named after it.
const DefaultName = "default"

// Save writes every LoRA adapter in PEFT's layout: adapter_config.json and
// adapter_model.safetensors (float32, metadata {"format": "pt"}, keys like
// base_model.model.<module>.lora_A.weight [r, in], lora_B.weight [out, r],
// lora_magnitude_vector [out] for DoRA) in dir for "default" and in
// dir/<name> for the others. Bottleneck adapters go to their own files
// (see SaveBottleneck).
func (m *Model) Save(dir string) error {
	for _, n := range m.names {
		sub := dir
		if n != DefaultName {
			sub = filepath.Join(dir, n)
		}
		if err := m.SaveAdapter(sub, n); err != nil {
			return err
		}
	}
	for n := range m.hookCfg {
		if err := m.SaveBottleneck(filepath.Join(dir, n), n); err != nil {
			return err
		}
	}
	return nil
}

// SaveAdapter writes one LoRA adapter's two files into dir.
func (m *Model) SaveAdapter(dir, name string) error {
	cfg := m.configs[name]
	if cfg == nil {
		return fmt.Errorf("lora: no adapter %q to save", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), m.StateDict(name), map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return cfg.Write(filepath.Join(dir, ConfigFile))
}

// StateDict returns the tensors of one adapter under their PEFT keys (the
// tensors are shared, not copied).
func (m *Model) StateDict(name string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, p := range m.adapterParams(name) {
		out[p.Name] = p.W
	}
	return out
}

// adapterParams lists what one adapter saves, in model order: A, B (and
// the variant's tensors) per layer, trained biases, modules_to_save copies.
func (m *Model) adapterParams(name string) []Param {
	var ps []Param
	cfg := m.configs[name]
	for _, s := range m.sets {
		if a := s.adapters[name]; a != nil {
			ps = append(ps, a.params()...)
		}
		if cfg != nil && s.Linear.B != nil && s.saved[name] == nil && (cfg.Bias == "all" || (cfg.Bias == "lora_only" && s.adapters[name] != nil)) {
			b := s.Linear.B
			if s.base != nil {
				b = s.base.B
			}
			ps = append(ps, Param{Name: KeyPrefix + s.Module + ".bias", Adapter: name, Group: GroupBias, W: b})
		}
	}
	ps = append(ps, m.savedParams([]string{name})...)
	return append(ps, m.embParams([]string{name}, true)...)
}

// Load reads a PEFT adapter directory (adapter_config.json and
// adapter_model.safetensors) and adds it under name. Every tensor is checked
// against the base model's shapes before anything is kept; the error names
// the first mismatch (and counts the rest).
func (m *Model) Load(dir, name string) error {
	cfg, err := ReadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return err
	}
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := m.add(name, cfg, noInit, 0, true); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if err := m.fill(path, f, name); err != nil {
		m.Delete(name)
		return err
	}
	return m.residualize(name, cfg)
}

// residualize redoes a PiSSA or OLoRA initialisation on the base after
// loading such an adapter, as PEFT's load does: the adapter was trained
// against W - s·B0·A0, not W. The SVD and QR are deterministic, so the
// residual is the one training started from (PEFT's randomized
// pissa_niter_K is replaced by the exact SVD, with a warning). CorDA and
// LoftQ residuals cannot be redone and are refused.
func (m *Model) residualize(name string, cfg *Config) error {
	init := m.configs[name].InitLoraWeights
	switch {
	case init == "corda" || init == "loftq":
		m.Delete(name)
		return fmt.Errorf("lora: adapter %q: init_lora_weights %q was trained against a residual base golora cannot recompute; convert it to plain LoRA with PEFT (path_initial_model_for_weight_conversion)", name, init)
	case !strings.HasPrefix(init, "pissa") && init != "olora":
		return nil
	}
	f, err := InitByName(init)
	if err != nil {
		return err
	}
	if strings.HasPrefix(init, "pissa_niter_") {
		m.configs[name].Warnings = append(m.configs[name].Warnings, fmt.Sprintf("%s: the base residual is recomputed with an exact SVD, PEFT's is randomized", init))
	}
	for _, s := range m.sets {
		a := s.adapters[name]
		if a == nil {
			continue
		}
		a0 := NewAdapter(name, s.Module, s.Linear, a.R(), a.Alpha, cfg.UseRSLoRA, 0)
		if err := f(a0, s.Linear.W.Data, nil); err != nil {
			return err
		}
		a.A0, a.B0 = a0.A, a0.B
	}
	return nil
}

// fill copies the file's tensors into adapter name, checking names and
// shapes first. A base embedding table PEFT saves beside LoRA on the
// embedding (…base_layer.weight) is optional; when present it replaces
// the base table, as PEFT's load does.
func (m *Model) fill(path string, f *safetensors.File, name string) error {
	have := map[string]bool{}
	for _, k := range f.Names() {
		have[k] = true
	}
	var problems []string
	type job struct {
		key string
		w   *tensor.Tensor
	}
	var jobs []job
	for _, p := range m.adapterParams(name) {
		key, ok := findKey(have, p, name)
		if !ok {
			if p.Group != GroupBase {
				problems = append(problems, fmt.Sprintf("%s is missing (the config names its module)", p.Name))
			}
			continue
		}
		info, _ := f.Info(key)
		if !tensor.SameShape(info.Shape, p.W.Shape) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, the base model needs %v", key, info.Shape, p.W.Shape))
		}
		delete(have, key)
		jobs = append(jobs, job{key, p.W})
	}
	for _, k := range f.Names() {
		if !have[k] {
			continue
		}
		why := "matches no targeted module of the base model"
		if strings.HasSuffix(k, "embed_tokens.weight") || strings.HasSuffix(k, "lm_head.weight") || strings.HasSuffix(k, "wte.weight") {
			why += " (a full embedding or head table: PEFT saves one when the vocabulary was resized, which golora does not do, or for a modules_to_save entry the config does not list)"
		}
		problems = append(problems, k+" "+why)
	}
	if len(problems) > 0 {
		msg := problems[0]
		if len(problems) > 1 {
			msg += fmt.Sprintf(" (and %d more mismatches)", len(problems)-1)
		}
		return fmt.Errorf("lora: %s: %s", path, msg)
	}
	for _, j := range jobs {
		t, err := f.Tensor(j.key)
		if err != nil {
			return err
		}
		if i := firstNonFinite(t.Data); i >= 0 {
			return fmt.Errorf("lora: %s: tensor %s holds %v at index %d (NaN/Inf weights are refused)", path, j.key, t.Data[i], i)
		}
		copy(j.w.Data, t.Data)
	}
	return nil
}

// findKey finds p in the file under PEFT's key or the forms other writers
// use: the adapter name kept (…lora_A.<name>.weight, …lora_embedding_A.<name>,
// …trainable_tokens_delta.<name>) and, for modules_to_save copies, PEFT's
// pre-0.15 …<module>.modules_to_save.weight.
func findKey(have map[string]bool, p Param, name string) (string, bool) {
	keys := []string{p.Name, withAdapterName(p.Name, name)}
	if p.Group == GroupSaved {
		i := strings.LastIndexByte(p.Name, '.')
		mod, leaf := p.Name[:i], p.Name[i+1:]
		keys = append(keys, mod+".modules_to_save."+leaf, mod+".modules_to_save."+name+"."+leaf)
	}
	for _, k := range keys {
		if have[k] {
			return k, true
		}
	}
	return "", false
}

func withAdapterName(key, name string) string {
	for _, suf := range []string{".lora_A.weight", ".lora_B.weight", ".lora_B.bias"} {
		if strings.HasSuffix(key, suf) {
			i := strings.LastIndexByte(key, '.')
			return key[:i] + "." + name + key[i:]
		}
	}
	for _, suf := range []string{".lora_embedding_A", ".lora_embedding_B", ".trainable_tokens_delta"} {
		if strings.HasSuffix(key, suf) {
			return key + "." + name
		}
	}
	return key
}

// noInit leaves A and B zero: loading overwrites them, and re-running PiSSA
// or OLoRA would change the base weights again.
func noInit(*Adapter, []float32, *rand.Rand) error { return nil }

// SaveConverted writes a PiSSA or OLoRA adapter as a plain LoRA adapter for
// the original base weights, as PEFT's path_initial_model_for_weight_conversion
// does: the trained change s·(B·A - B0·A0) is stored exactly at rank 2r as
// A' = [A; A0], B' = [B, -B0], with r doubled, lora_alpha doubled (×√2 with
// rsLoRA) so s is unchanged, and init_lora_weights true.
func (m *Model) SaveConverted(dir, name string) error {
	cfg := m.configs[name]
	if cfg == nil {
		return fmt.Errorf("lora: no adapter %q to save", name)
	}
	if cfg.UseDoRA {
		return fmt.Errorf("lora: adapter %q: converting a DoRA adapter is not supported", name)
	}
	out := map[string]*tensor.Tensor{}
	for _, p := range m.adapterParams(name) {
		out[p.Name] = p.W
	}
	for _, s := range m.sets {
		a := s.adapters[name]
		if a == nil {
			continue
		}
		if a.A0 == nil {
			return fmt.Errorf("lora: adapter %q was not initialised with pissa or olora; save it as is", name)
		}
		r, in, o := a.R(), a.In(), a.Out()
		A := tensor.New(2*r, in)
		copy(A.Data, a.A.Data)
		copy(A.Data[r*in:], a.A0.Data)
		B := tensor.New(o, 2*r)
		for i := 0; i < o; i++ {
			copy(B.Data[i*2*r:], a.B.Data[i*r:(i+1)*r])
			for k := 0; k < r; k++ {
				B.Data[i*2*r+r+k] = -a.B0.Data[i*r+k]
			}
		}
		p := KeyPrefix + a.Module + "."
		out[p+"lora_A.weight"], out[p+"lora_B.weight"] = A, B
	}
	c := cfg.Clone()
	grow := 2.0
	if c.UseRSLoRA {
		grow = math.Sqrt2
	}
	c.R *= 2
	c.LoraAlpha *= grow
	for i := range c.RankPattern {
		c.RankPattern[i].Value *= 2
	}
	for i := range c.AlphaPattern {
		c.AlphaPattern[i].Value *= grow
	}
	c.InitLoraWeights = "true"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), out, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return c.Write(filepath.Join(dir, ConfigFile))
}

// firstNonFinite is the index of the first NaN or Inf in x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}
