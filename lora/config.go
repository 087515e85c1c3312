package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/golora/golora/internal/atomicfile"
)

// ConfigFile is the name PEFT gives an adapter's configuration.
const ConfigFile = "adapter_config.json"

// Config is PEFT's LoraConfig: json tags are PEFT's keys and the zero value
// is not meaningful; start from DefaultConfig (or ReadConfig), which sets
// PEFT's defaults.
type Config struct {
	R                   int      `json:"r"`
	LoraAlpha           float64  `json:"lora_alpha"`
	LoraDropout         float64  `json:"lora_dropout"`
	TargetModules       Modules  `json:"target_modules"`
	ExcludeModules      Modules  `json:"exclude_modules"`
	FanInFanOut         bool     `json:"fan_in_fan_out"` // true for GPT-2's Conv1D layers
	Bias                string   `json:"bias"`           // "none", "all" or "lora_only"
	InitLoraWeights     string   `json:"init_lora_weights"`
	UseRSLoRA           bool     `json:"use_rslora"`
	UseDoRA             bool     `json:"use_dora"`
	RankPattern         Pattern  `json:"rank_pattern"`
	AlphaPattern        Pattern  `json:"alpha_pattern"`
	LayersToTransform   []int    `json:"layers_to_transform"` // nil: every layer
	LayersPattern       []string `json:"layers_pattern"`
	ModulesToSave       []string `json:"modules_to_save"`
	TaskType            string   `json:"task_type"`
	BaseModelNameOrPath string   `json:"base_model_name_or_path"`
	PeftType            string   `json:"peft_type"`
	PeftVersion         string   `json:"peft_version"`

	// LoraBias adds a trainable bias to lora_B (PEFT's lora_bias): the
	// layer gets s·(B·A·x + b), merged into the base bias.
	LoraBias bool `json:"lora_bias"`
	// TrainableTokens is PEFT's trainable_token_indices: rows of the
	// embedding (and of a tied head) trained in place of their originals.
	TrainableTokens TokenIndices `json:"trainable_token_indices"`

	// Extra holds every other key as read, so a config written back keeps
	// what newer PEFT versions added.
	Extra map[string]json.RawMessage `json:"-"`
	// Warnings lists keys this version does not know (kept in Extra).
	Warnings []string `json:"-"`
}

// TokenIndices is PEFT's trainable_token_indices: a list of token ids for
// the input embedding, or per module name (matched like target_modules
// list entries) its own list, in file order.
type TokenIndices []ModuleTokens

// ModuleTokens is one module's trainable token ids; Module "" is the input
// embedding (the list form).
type ModuleTokens struct {
	Module string
	IDs    []int
}

// Modules is PEFT's target_modules / exclude_modules: a list of names, each
// matching a module exactly or as a ".name" suffix, or a single regular
// expression that must match the whole module name.
type Modules struct {
	Names []string
	Regex string // used when IsRegex
	// IsRegex marks the string form.
	IsRegex bool
}

// Empty reports whether no module is named.
func (m Modules) Empty() bool { return !m.IsRegex && len(m.Names) == 0 }

// List returns a Modules holding names.
func List(names ...string) Modules { return Modules{Names: names} }

// Regex returns a Modules holding a full-match regular expression.
func Regex(re string) Modules { return Modules{Regex: re, IsRegex: true} }

// Pattern is an ordered map from a module-name pattern to a value (rank or
// alpha). Order matters: PEFT takes the first key that matches, in file order.
type Pattern []PatternEntry

// PatternEntry is one key of a Pattern.
type PatternEntry struct {
	Key   string
	Value float64
}

// peftKeys are the keys PEFT 0.20.0 writes for a LoraConfig, with their
// defaults as JSON. Keys golora models get their value from the struct.
var peftKeys = map[string]string{
	"alora_invocation_tokens": "null", "alpha_pattern": "{}", "arrow_config": "null",
	"auto_mapping": "null", "base_model_name_or_path": "null", "bias": `"none"`,
	"corda_config": "null", "ensure_weight_tying": "false", "eva_config": "null",
	"exclude_modules": "null", "fan_in_fan_out": "false", "inference_mode": "true",
	"init_lora_weights": "true", "layer_replication": "null", "layers_pattern": "null",
	"layers_to_transform": "null", "loftq_config": "{}", "lora_alpha": "8", "lora_bias": "false",
	"lora_dropout": "0.0", "lora_ga_config": "null", "megatron_config": "null",
	"megatron_core": `"megatron.core"`, "modules_to_save": "null", "monteclora_config": "null",
	"peft_type": `"LORA"`, "peft_version": `"0.20.0"`, "qalora_group_size": "16", "r": "8",
	"rank_pattern": "{}", "revision": "null", "target_modules": "null",
	"target_parameters": "null", "task_type": "null", "trainable_token_indices": "null",
	"use_bdlora": "null", "use_dora": "false", "use_qalora": "false", "use_rslora": "false",
	"velora_config": "null",
}

// DefaultConfig returns PEFT's LoraConfig defaults (r 8, lora_alpha 8, no
// dropout, bias "none", default init).
func DefaultConfig() *Config {
	return &Config{R: 8, LoraAlpha: 8, Bias: "none", InitLoraWeights: "true", PeftType: "LORA", PeftVersion: "0.20.0"}
}

// ReadConfig reads an adapter_config.json (path may be the file or its
// directory). Missing keys take PEFT's defaults; unknown keys are kept in
// Extra and listed in Warnings.
func ReadConfig(path string) (*Config, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, ConfigFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses adapter_config.json contents.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	c := DefaultConfig()
	c.Extra = map[string]json.RawMessage{}
	for k, v := range raw {
		isNull := string(bytes.TrimSpace(v)) == "null"
		var err error
		switch k {
		case "r":
			err = json.Unmarshal(v, &c.R)
		case "lora_alpha":
			err = json.Unmarshal(v, &c.LoraAlpha)
		case "lora_dropout":
			err = json.Unmarshal(v, &c.LoraDropout)
		case "target_modules":
			c.TargetModules, err = parseModules(v)
		case "exclude_modules":
			c.ExcludeModules, err = parseModules(v)
		case "fan_in_fan_out":
			err = json.Unmarshal(v, &c.FanInFanOut)
		case "bias":
			err = json.Unmarshal(v, &c.Bias)
		case "init_lora_weights":
			var b bool
			if json.Unmarshal(v, &b) == nil {
				c.InitLoraWeights = strconv.FormatBool(b)
			} else {
				err = json.Unmarshal(v, &c.InitLoraWeights)
			}
		case "use_rslora":
			err = json.Unmarshal(v, &c.UseRSLoRA)
		case "use_dora":
			err = json.Unmarshal(v, &c.UseDoRA)
		case "rank_pattern":
			c.RankPattern, err = parsePattern(v)
		case "alpha_pattern":
			c.AlphaPattern, err = parsePattern(v)
		case "layers_to_transform":
			if !isNull {
				var one int
				if json.Unmarshal(v, &one) == nil {
					c.LayersToTransform = []int{one}
				} else {
					err = json.Unmarshal(v, &c.LayersToTransform)
				}
			}
		case "layers_pattern":
			if !isNull {
				var one string
				if json.Unmarshal(v, &one) == nil {
					c.LayersPattern = []string{one}
				} else {
					err = json.Unmarshal(v, &c.LayersPattern)
				}
			}
		case "modules_to_save":
			err = json.Unmarshal(v, &c.ModulesToSave)
		case "lora_bias":
			err = json.Unmarshal(v, &c.LoraBias)
		case "trainable_token_indices":
			c.TrainableTokens, err = parseTokenIndices(v)
		case "task_type":
			err = json.Unmarshal(v, &c.TaskType)
		case "base_model_name_or_path":
			err = json.Unmarshal(v, &c.BaseModelNameOrPath)
		case "peft_type":
			err = json.Unmarshal(v, &c.PeftType)
		case "peft_version":
			err = json.Unmarshal(v, &c.PeftVersion)
		default:
			if what, ok := unsupportedKeys[k]; ok && !isOff(v) {
				return nil, fmt.Errorf("key %q = %s: %s is not supported (it changes the adapter's maths; golora would compute something else)", k, bytes.TrimSpace(v), what)
			}
			c.Extra[k] = append(json.RawMessage(nil), v...)
			if _, ok := peftKeys[k]; !ok {
				c.Warnings = append(c.Warnings, fmt.Sprintf("unknown key %q kept as is", k))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
	}
	sort.Strings(c.Warnings)
	return c, c.Validate()
}

// unsupportedKeys are LoraConfig keys that change what the adapter
// computes in ways golora does not implement; a config that sets one
// (anything but null, false, {} or []) is refused by name rather than
// loaded as plain LoRA.
var unsupportedKeys = map[string]string{
	"use_qalora":              "QA-LoRA (pooled inputs for a quantized base)",
	"lora_ga_config":          "LoRA-GA (its base weights are a residual)",
	"loftq_config":            "LoftQ (quantized residual base weights)",
	"use_bdlora":              "block-diagonal LoRA",
	"alora_invocation_tokens": "activated LoRA (aLoRA, active only after its invocation tokens)",
	"arrow_config":            "Arrow routing over LoRA experts",
	"kasa_config":             "KaSA",
	"monteclora_config":       "MonteCLoRA",
	"velora_config":           "VeLoRA",
	"layer_replication":       "layer replication (changes the base model's layers)",
	"target_parameters":       "LoRA on nn.Parameter tensors (MoE experts)",
	"megatron_config":         "Megatron parallel layers",
}

// isOff reports whether a JSON value leaves a feature off: null, false, 0,
// "", {} or [].
func isOff(v json.RawMessage) bool {
	var a any
	if json.Unmarshal(v, &a) != nil {
		return false
	}
	switch x := a.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// parseTokenIndices reads trainable_token_indices: null, a list of ids, or
// an object from module name to ids (key order kept).
func parseTokenIndices(v json.RawMessage) (TokenIndices, error) {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return nil, nil
	}
	var ids []int
	if json.Unmarshal(v, &ids) == nil {
		return TokenIndices{{IDs: ids}}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("want a list of token ids or an object of module name to ids")
	}
	var out TokenIndices
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var l []int
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("module %q: %w", kt, err)
		}
		out = append(out, ModuleTokens{Module: kt.(string), IDs: l})
	}
	return out, nil
}

func (t TokenIndices) value() any {
	if t == nil {
		return nil
	}
	if len(t) == 1 && t[0].Module == "" {
		return t[0].IDs
	}
	m := map[string]any{}
	for _, e := range t {
		m[e.Module] = e.IDs
	}
	return m
}

func parseModules(v json.RawMessage) (Modules, error) {
	if string(bytes.TrimSpace(v)) == "null" {
		return Modules{}, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return Regex(s), nil
	}
	var l []string
	err := json.Unmarshal(v, &l)
	return Modules{Names: l}, err
}

// parsePattern keeps the object's key order, which json.Unmarshal into a map
// would lose and PEFT's first-match rule depends on.
func parsePattern(v json.RawMessage) (Pattern, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want an object, got %v", tok)
	}
	var p Pattern
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		vt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		num, ok := vt.(json.Number)
		if !ok {
			return nil, fmt.Errorf("pattern %q: want a number, got %v", kt, vt)
		}
		f, err := num.Float64()
		if err != nil {
			return nil, err
		}
		p = append(p, PatternEntry{Key: kt.(string), Value: f})
	}
	return p, nil
}

// Validate checks the values PEFT itself would reject, and what golora
// cannot compute.
func (c *Config) Validate() error {
	if c.PeftType != "" && c.PeftType != "LORA" {
		return fmt.Errorf("peft_type %q is not supported: golora loads LoRA adapters (peft_type \"LORA\", with DoRA and rsLoRA) and its own bottleneck adapters", c.PeftType)
	}
	if !c.TargetModules.IsRegex && c.TargetModules.Names != nil && len(c.TargetModules.Names) == 0 {
		return errors.New("target_modules is an empty list: the adapter would adapt no layer (PEFT: no target_modules passed)")
	}
	if c.LoraBias && c.UseDoRA {
		return errors.New("lora_bias is not supported with DoRA (use_dora), as in PEFT")
	}
	if c.LoraBias && c.InitLoraWeights != "true" && c.InitLoraWeights != "false" {
		return fmt.Errorf("lora_bias needs init_lora_weights true or false (as in PEFT), got %q", c.InitLoraWeights)
	}
	for _, e := range c.TrainableTokens {
		if len(e.IDs) == 0 {
			return fmt.Errorf("trainable_token_indices%s: empty list of token ids", moduleSuffix(e.Module))
		}
		for _, id := range e.IDs {
			if id < 0 {
				return fmt.Errorf("trainable_token_indices%s: negative token id %d", moduleSuffix(e.Module), id)
			}
		}
	}
	if c.R <= 0 {
		return fmt.Errorf("r must be positive, got %d", c.R)
	}
	if c.LoraDropout < 0 || c.LoraDropout >= 1 {
		return fmt.Errorf("lora_dropout must be in [0, 1), got %g", c.LoraDropout)
	}
	switch c.Bias {
	case "none", "all", "lora_only":
	default:
		return fmt.Errorf("bias must be none, all or lora_only, got %q", c.Bias)
	}
	for _, re := range []Modules{c.TargetModules, c.ExcludeModules} {
		if re.IsRegex && re.Regex != "all-linear" {
			if _, err := regexp.Compile(re.Regex); err != nil {
				return fmt.Errorf("target/exclude regex: %w", err)
			}
		}
	}
	for _, p := range append(append(Pattern(nil), c.RankPattern...), c.AlphaPattern...) {
		if _, err := regexp.Compile(p.Key); err != nil {
			return fmt.Errorf("pattern %q: %w", p.Key, err)
		}
	}
	for _, p := range c.RankPattern {
		if p.Value <= 0 || p.Value != math.Trunc(p.Value) || p.Value > math.MaxInt32 {
			return fmt.Errorf("rank_pattern %q: rank must be a positive integer, got %g", p.Key, p.Value)
		}
	}
	// A scaling that overflows float32 (lora_alpha 1e308) turns every
	// output into Inf or NaN.
	for _, p := range append(Pattern{{Key: "lora_alpha", Value: c.LoraAlpha}}, c.AlphaPattern...) {
		if s := scaling(p.Value, 1, false); math.IsNaN(s) || math.Abs(s) > math.MaxFloat32 {
			return fmt.Errorf("%s %g: the scaling alpha/r must be a finite float32", p.Key, p.Value)
		}
	}
	return nil
}

// Matches reports whether PEFT would put a LoRA adapter on the module
// (check_target_module_exists): exclusions first, then a target list entry
// t matches m == t or a "."+t suffix (subject to layers_to_transform), a
// string is a full-match regex, and "all-linear" is every linear but the
// output head.
func (c *Config) Matches(module string, isOutputHead bool) bool {
	if ex := c.ExcludeModules; !ex.Empty() {
		if ex.IsRegex {
			if fullMatch(ex.Regex, module) {
				return false
			}
		} else if matchesList(ex.Names, module) {
			return false
		}
	}
	t := c.TargetModules
	switch {
	case t.IsRegex && t.Regex == "all-linear":
		if isOutputHead {
			return false
		}
		// PEFT expands all-linear into module-name suffixes, so
		// layers_to_transform applies as it does to a list.
	case t.IsRegex:
		return fullMatch(t.Regex, module)
	case slicesContains(t.Names, module):
		return true
	case !matchesList(t.Names, module):
		return false
	}
	if len(c.LayersToTransform) == 0 {
		return true
	}
	idx, ok := c.layerIndex(module)
	return ok && slicesContains(c.LayersToTransform, idx)
}

func (c *Config) layerIndex(module string) (int, bool) {
	pats := c.LayersPattern
	if len(pats) == 0 {
		pats = []string{`[^.]*`}
	}
	for _, p := range pats {
		re, err := cachedRegexp(`^.*\.` + p + `\.(\d+)\.`)
		if err != nil {
			continue
		}
		if m := re.FindStringSubmatch(module); m != nil {
			i, _ := strconv.Atoi(m[1])
			return i, true
		}
	}
	return 0, false
}

func matchesList(names []string, module string) bool {
	for _, t := range names {
		if module == t || strings.HasSuffix(module, "."+t) {
			return true
		}
	}
	return false
}

func slicesContains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// reCache keeps compiled patterns: targeting runs every pattern against
// every module name.
var reCache sync.Map // string -> *regexp.Regexp

func cachedRegexp(expr string) (*regexp.Regexp, error) {
	if re, ok := reCache.Load(expr); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	reCache.Store(expr, re)
	return re, nil
}

func fullMatch(expr, s string) bool {
	re, err := cachedRegexp(`^(?:` + expr + `)$`)
	return err == nil && re.MatchString(s)
}

// lookup is PEFT's get_pattern_key: the first key p, in order, such that
// re.match(r"(.*\.)?(p)$", module).
func (p Pattern) lookup(module string) (float64, bool) {
	for _, e := range p {
		re, err := cachedRegexp(`^(.*\.)?(` + e.Key + `)$`)
		if err == nil && re.MatchString(module) {
			return e.Value, true
		}
	}
	return 0, false
}

// RankAlpha returns the module's rank and alpha after rank_pattern and
// alpha_pattern.
func (c *Config) RankAlpha(module string) (r int, alpha float64) {
	r, alpha = c.R, c.LoraAlpha
	if v, ok := c.RankPattern.lookup(module); ok {
		r = int(v)
	}
	if v, ok := c.AlphaPattern.lookup(module); ok {
		alpha = v
	}
	return r, alpha
}

// Scaling is the module's LoRA scale: lora_alpha / r, or lora_alpha / √r
// with use_rslora (Kalajdzievski 2023), after the patterns.
func (c *Config) Scaling(module string) float64 {
	r, alpha := c.RankAlpha(module)
	return scaling(alpha, r, c.UseRSLoRA)
}

func scaling(alpha float64, r int, rs bool) float64 {
	if rs {
		return alpha / math.Sqrt(float64(r))
	}
	return alpha / float64(r)
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	d := *c
	d.ExcludeModules.Names = append([]string(nil), c.ExcludeModules.Names...)
	d.RankPattern = append(Pattern(nil), c.RankPattern...)
	d.AlphaPattern = append(Pattern(nil), c.AlphaPattern...)
	d.LayersToTransform = append([]int(nil), c.LayersToTransform...)
	d.LayersPattern = append([]string(nil), c.LayersPattern...)
	d.ModulesToSave = append([]string(nil), c.ModulesToSave...)
	d.TargetModules.Names = slices.Clone(c.TargetModules.Names) // keeps [] apart from nil
	d.TrainableTokens = nil
	for _, e := range c.TrainableTokens {
		d.TrainableTokens = append(d.TrainableTokens, ModuleTokens{e.Module, slices.Clone(e.IDs)})
	}
	d.Extra = map[string]json.RawMessage{}
	for k, v := range c.Extra {
		d.Extra[k] = v
	}
	d.Warnings = append([]string(nil), c.Warnings...)
	return &d
}

// Write writes the config atomically as PEFT 0.20.0 does: every key of its
// LoraConfig, sorted, indented by two spaces, inference_mode true.
func (c *Config) Write(path string) error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, data)
}

// Marshal returns the adapter_config.json bytes Write writes.
func (c *Config) Marshal() ([]byte, error) {
	vals := map[string]any{}
	for k, def := range peftKeys {
		vals[k] = json.RawMessage(def)
	}
	for k, v := range c.Extra {
		vals[k] = v
	}
	strOrNull := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	vals["r"] = c.R
	vals["lora_alpha"] = pyNumber(c.LoraAlpha)
	vals["lora_dropout"] = pyFloat(c.LoraDropout)
	vals["target_modules"] = modulesValue(c.TargetModules)
	vals["exclude_modules"] = modulesValue(c.ExcludeModules)
	vals["fan_in_fan_out"] = c.FanInFanOut
	vals["bias"] = c.Bias
	switch c.InitLoraWeights {
	case "true", "":
		vals["init_lora_weights"] = true
	case "false":
		vals["init_lora_weights"] = false
	default:
		vals["init_lora_weights"] = c.InitLoraWeights
	}
	vals["use_rslora"] = c.UseRSLoRA
	vals["use_dora"] = c.UseDoRA
	vals["rank_pattern"] = c.RankPattern
	vals["alpha_pattern"] = c.AlphaPattern
	if c.LayersToTransform != nil {
		vals["layers_to_transform"] = c.LayersToTransform
	}
	if c.LayersPattern != nil {
		vals["layers_pattern"] = c.LayersPattern
	}
	if c.ModulesToSave != nil {
		vals["modules_to_save"] = c.ModulesToSave
	}
	vals["lora_bias"] = c.LoraBias
	if c.TrainableTokens != nil {
		vals["trainable_token_indices"] = c.TrainableTokens.value()
	}
	vals["task_type"] = strOrNull(c.TaskType)
	vals["base_model_name_or_path"] = strOrNull(c.BaseModelNameOrPath)
	vals["peft_type"] = c.PeftType
	vals["peft_version"] = strOrNull(c.PeftVersion)

	var b bytes.Buffer
	if err := writePy(&b, vals, 0); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func moduleSuffix(m string) string {
	if m == "" {
		return ""
	}
	return fmt.Sprintf("[%q]", m)
}

func modulesValue(m Modules) any {
	if m.IsRegex {
		return m.Regex
	}
	if m.Names == nil {
		return nil
	}
	// PEFT holds target_modules as a set and writes it sorted.
	s := append([]string(nil), m.Names...)
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// pyFloat and pyNumber mark how Python's json.dumps would print a number:
// floats always with a fraction or exponent, PEFT's int-typed alphas as ints
// when they are whole.
type pyFloat float64
type pyNumber float64

func formatPyFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// writePy writes v the way Python's json.dumps(indent=2, sort_keys=True)
// does, so golora's files diff cleanly against PEFT's.
func writePy(b *bytes.Buffer, v any, depth int) error {
	ind := strings.Repeat("  ", depth+1)
	end := strings.Repeat("  ", depth)
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case pyFloat:
		b.WriteString(formatPyFloat(float64(x)))
	case pyNumber:
		if float64(x) == math.Trunc(float64(x)) && math.Abs(float64(x)) < 1e15 {
			b.WriteString(strconv.FormatInt(int64(x), 10))
		} else {
			b.WriteString(formatPyFloat(float64(x)))
		}
	case string:
		s, _ := json.Marshal(x)
		b.Write(s)
	case json.Number:
		b.WriteString(string(x))
	case json.RawMessage:
		dec := json.NewDecoder(bytes.NewReader(x))
		dec.UseNumber()
		var a any
		if err := dec.Decode(&a); err != nil {
			return err
		}
		return writePy(b, a, depth)
	case []string:
		return writePy(b, toAny(x), depth)
	case []int:
		return writePy(b, toAny(x), depth)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, e := range x {
			b.WriteString(ind)
			if err := writePy(b, e, depth+1); err != nil {
				return err
			}
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(end + "]")
	case Pattern:
		m := map[string]any{}
		for _, e := range x {
			if _, dup := m[e.Key]; !dup {
				m[e.Key] = pyNumber(e.Value)
			}
		}
		// Python keeps pattern dicts in insertion order but sort_keys sorts
		// them on write; the first-match order is then the sorted order, as
		// with PEFT.
		return writePy(b, m, depth)
	case map[string]any:
		if len(x) == 0 {
			b.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{\n")
		for i, k := range keys {
			ks, _ := json.Marshal(k)
			b.WriteString(ind)
			b.Write(ks)
			b.WriteString(": ")
			if err := writePy(b, x[k], depth+1); err != nil {
				return err
			}
			if i < len(keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(end + "}")
	default:
		return fmt.Errorf("lora: cannot write %T to adapter_config.json", v)
	}
	return nil
}

func toAny[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
