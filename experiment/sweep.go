// Package experiment runs reproducible LoRA research sweeps: a YAML file
// names a task, a base model, the train settings shared by every run and the
// axes to vary; every point of the grid is trained once per seed with the
// ordinary train engine (train.Setup + Trainer.Run, no second loop), kept
// under out/runs/<run-id>/ with a done marker, and summarised as
// results.csv, results.md (mean ± std over seeds) and PNG plots.
//
// Built-in sweeps (init, scale, targets, methods), tasks (kjv-nt, quiz-qa,
// continents) and the wider base (kjv-wide) are embedded, so the golora
// binary reproduces them anywhere.
package experiment

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/golora/golora/train"
	"github.com/golora/golora/train/trainconfig"
)

//go:embed sweeps/*.yaml
var sweepFS embed.FS

// Sweep is one sweep file. Keys of Train and of axis values are train
// flag names (the keys of a train --config file).
type Sweep struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Task is a built-in task (kjv-nt, quiz-qa, continents) or a folder
	// holding train.jsonl and valid.jsonl.
	Task string `yaml:"task"`
	// Metric is perplexity, exact_match or accuracy; built-in tasks have
	// their own and a folder task defaults to perplexity.
	Metric string `yaml:"metric"`
	// Labels are the class names of an accuracy task (the completions);
	// built-in tasks set them.
	Labels []string `yaml:"labels"`
	// Base is "embedded" (or empty), "wide" (the kjv-wide base) or a model
	// folder or file.
	Base  string         `yaml:"base"`
	Seeds int            `yaml:"seeds"`
	Train map[string]any `yaml:"train"`
	Axes  []Axis         `yaml:"axes"`
	Plots []Plot         `yaml:"plots"`
	// Tune is the axis each configuration is reported at its best level
	// of, chosen on validation (default: the lr axis, if there is one).
	Tune string `yaml:"tune"`
	// Compare is the axis whose levels are compared, each at its own tuned
	// level, against the first level by a paired t-test over seeds on the
	// test split (default: the first axis that is not Tune).
	Compare string `yaml:"compare"`
	// DivergeAbove is the divergence threshold: a run whose final
	// validation loss exceeds this factor times the base model's counts as
	// diverged (default 1: any run that ends worse than no tuning).
	DivergeAbove float64 `yaml:"diverge-above"`
	// Quick overrides seeds, train keys and axis values for --quick.
	Quick *Quick `yaml:"quick"`
}

// Quick is the reduced version of a sweep that --quick runs.
type Quick struct {
	Seeds int            `yaml:"seeds"`
	Train map[string]any `yaml:"train"`
	// Axes replace the values or variants of the axes with the same key or
	// name; an axis with no values keeps the full sweep's.
	Axes []Axis `yaml:"axes"`
}

// Axis is one dimension of the grid: either one train key with a list of
// values, or named variants that each set several keys (e.g. a target set
// with the rank that keeps the parameter budget).
type Axis struct {
	Key      string    `yaml:"key"`
	Name     string    `yaml:"name"`
	Values   []any     `yaml:"values"`
	Variants []Variant `yaml:"variants"`
}

// Variant is one named point of a variants axis.
type Variant struct {
	Label string         `yaml:"label"`
	Set   map[string]any `yaml:"set"`
}

// Plot is one PNG the report draws. Type "final" plots the last validation
// loss (Y "loss"), the validation metric (Y "metric") or either on the test
// split (Y "test-loss", "test-metric") against axis X, one line per level
// of axis Series and of axis Split (a third axis: one colour per series
// level, one dash pattern per split level), error bars the 95% t-interval;
// type "curves" plots the mean validation-loss curve of each line at its
// best level of axis Best (chosen on validation), shaded min to max over
// seeds.
type Plot struct {
	Type   string `yaml:"type"`
	File   string `yaml:"file"`
	X      string `yaml:"x"`
	Series string `yaml:"series"`
	Split  string `yaml:"split"`
	Best   string `yaml:"best"`
	Y      string `yaml:"y"`
	LogX   bool   `yaml:"logx"`
	LogY   bool   `yaml:"logy"`
	Title  string `yaml:"title"`
}

// AxisName is the column name of the axis: its key or its name.
func (a Axis) AxisName() string {
	if a.Name != "" {
		return a.Name
	}
	return a.Key
}

// level is one value of an axis: its label and the train keys it sets.
type level struct {
	Label string
	Set   map[string]any
}

func (a Axis) levels() []level {
	if len(a.Variants) > 0 {
		out := make([]level, len(a.Variants))
		for i, v := range a.Variants {
			out[i] = level(v)
		}
		return out
	}
	out := make([]level, len(a.Values))
	for i, v := range a.Values {
		out[i] = level{formatValue(v), map[string]any{a.Key: v}}
	}
	return out
}

// formatValue prints axis values compactly (1e-3, not 0.001000).
func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = formatValue(e)
		}
		return strings.Join(s, "+")
	}
	return fmt.Sprint(v)
}

// Builtin lists the names of the embedded sweeps.
func Builtin() []string {
	ents, _ := fs.ReadDir(sweepFS, "sweeps")
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Load reads a sweep: a built-in name or the path of a YAML file.
func Load(name string) (*Sweep, error) {
	var b []byte
	var err error
	src := name
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.ContainsRune(name, os.PathSeparator) {
		b, err = os.ReadFile(name)
	} else {
		src = "sweeps/" + name + ".yaml"
		b, err = sweepFS.ReadFile(src)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("experiment: no sweep %q: built-in sweeps are %s, or give a YAML file", name, strings.Join(Builtin(), ", "))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return Parse(b, src)
}

// Parse decodes and checks a sweep file; src names it in errors.
func Parse(b []byte, src string) (*Sweep, error) {
	var s Sweep
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", src, err)
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(path.Base(src), path.Ext(src))
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", src, err)
	}
	return &s, nil
}

// Metrics are the task metrics a sweep can name.
var Metrics = []string{"perplexity", "exact_match", "accuracy"}

func (s *Sweep) check() error {
	var errs []error
	if s.Task == "" {
		errs = append(errs, errors.New("task: a built-in task or a data folder is required"))
	}
	if s.Seeds < 0 || s.Seeds > maxSeeds {
		errs = append(errs, fmt.Errorf("seeds %d: want 0 to %d", s.Seeds, maxSeeds))
	}
	grid := float64(max(s.Seeds, 1))
	for _, a := range s.Axes {
		grid *= float64(max(len(a.levels()), 1))
	}
	if grid > maxRuns {
		errs = append(errs, fmt.Errorf("the axes and seeds make %.3g runs; at most %d", grid, maxRuns))
	}
	// The name and plot files become paths under --out: nothing may leave it.
	if !plainName(s.Name) {
		errs = append(errs, fmt.Errorf("name %.80q: want a plain name (letters, digits, - _ . +), not a path", s.Name))
	}
	names := map[string]bool{}
	for i, a := range s.Axes {
		switch {
		case !(a.Key != "" && len(a.Variants) == 0) && !(a.Key == "" && a.Name != "" && len(a.Variants) > 0):
			errs = append(errs, fmt.Errorf("axes[%d]: give key+values or name+variants", i))
		case a.Key != "" && len(a.Values) == 0:
			errs = append(errs, fmt.Errorf("axes[%d] %s: no values", i, a.Key))
		}
		if names[a.AxisName()] {
			errs = append(errs, fmt.Errorf("axes[%d]: %s appears twice", i, a.AxisName()))
		}
		names[a.AxisName()] = true
		for _, l := range a.levels() {
			if _, err := applyKeys(train.DefaultConfig(), l.Set); err != nil {
				errs = append(errs, fmt.Errorf("axes[%d] %s=%s: %w", i, a.AxisName(), l.Label, err))
			}
		}
	}
	if _, err := applyKeys(train.DefaultConfig(), s.Train); err != nil {
		errs = append(errs, fmt.Errorf("train: %w", err))
	}
	if s.Quick != nil {
		if _, err := applyKeys(train.DefaultConfig(), s.Quick.Train); err != nil {
			errs = append(errs, fmt.Errorf("quick.train: %w", err))
		}
		for i, q := range s.Quick.Axes {
			if !names[q.AxisName()] {
				errs = append(errs, fmt.Errorf("quick.axes[%d]: no axis %s in the sweep", i, q.AxisName()))
			}
		}
	}
	for i, p := range s.Plots {
		if p.File != "" && (!plainName(p.File) || !strings.HasSuffix(p.File, ".png")) {
			errs = append(errs, fmt.Errorf("plots[%d]: file %.80q: want a plain .png file name inside --out, not a path", i, p.File))
		}
		switch p.Type {
		case "final":
			if !names[p.X] {
				errs = append(errs, fmt.Errorf("plots[%d]: x %q is not an axis", i, p.X))
			}
		case "curves":
			if p.Best != "" && !names[p.Best] {
				errs = append(errs, fmt.Errorf("plots[%d]: best %q is not an axis", i, p.Best))
			}
		default:
			errs = append(errs, fmt.Errorf("plots[%d]: type %q: want final or curves", i, p.Type))
		}
		if p.Series != "" && !names[p.Series] {
			errs = append(errs, fmt.Errorf("plots[%d]: series %q is not an axis", i, p.Series))
		}
		if p.Split != "" && (!names[p.Split] || p.Split == p.Series) {
			errs = append(errs, fmt.Errorf("plots[%d]: split %q is not an axis other than the series", i, p.Split))
		}
		if p.Y != "" && !containsStr([]string{"loss", "metric", "test-loss", "test-metric"}, p.Y) {
			errs = append(errs, fmt.Errorf("plots[%d]: y %q: want loss, metric, test-loss or test-metric", i, p.Y))
		}
	}
	for _, a := range []struct{ key, name string }{{"tune", s.Tune}, {"compare", s.Compare}} {
		if a.name != "" && !names[a.name] {
			errs = append(errs, fmt.Errorf("%s: %q is not an axis", a.key, a.name))
		}
	}
	if s.Tune != "" && s.Tune == s.Compare {
		errs = append(errs, fmt.Errorf("tune and compare are both %q: compare levels at a tuned axis, not the axis itself", s.Tune))
	}
	if s.DivergeAbove != 0 && !(s.DivergeAbove >= 1) || math.IsInf(s.DivergeAbove, 0) {
		errs = append(errs, fmt.Errorf("diverge-above %g: want a factor >= 1 over the base's validation loss (0: the default 1)", s.DivergeAbove))
	}
	if s.Metric != "" && !containsStr(Metrics, s.Metric) {
		errs = append(errs, fmt.Errorf("metric %q: want one of %s", s.Metric, strings.Join(Metrics, ", ")))
	}
	return errors.Join(errs...)
}

// tuneAxis is the axis configurations are tuned over ("" if none).
func (s *Sweep) tuneAxis() string {
	if s.Tune != "" {
		return s.Tune
	}
	for _, a := range s.Axes {
		if a.AxisName() == "lr" {
			return "lr"
		}
	}
	return ""
}

// compareAxis is the axis whose levels the paired tests compare.
func (s *Sweep) compareAxis() string {
	if s.Compare != "" {
		return s.Compare
	}
	for _, a := range s.Axes {
		if a.AxisName() != s.tuneAxis() && len(a.levels()) > 1 {
			return a.AxisName()
		}
	}
	return ""
}

func (s *Sweep) divergeAbove() float64 {
	if s.DivergeAbove == 0 {
		return 1
	}
	return s.DivergeAbove
}

// WithQuick returns the sweep as --quick runs it.
func (s *Sweep) WithQuick() *Sweep {
	q := *s
	if s.Quick == nil {
		return &q
	}
	if s.Quick.Seeds > 0 {
		q.Seeds = s.Quick.Seeds
	}
	q.Train = map[string]any{}
	for k, v := range s.Train {
		q.Train[k] = v
	}
	for k, v := range s.Quick.Train {
		q.Train[k] = v
	}
	q.Axes = append([]Axis(nil), s.Axes...)
	for _, qa := range s.Quick.Axes {
		for i, a := range q.Axes {
			if a.AxisName() != qa.AxisName() {
				continue
			}
			if len(qa.Values) > 0 {
				q.Axes[i].Values = qa.Values
			}
			if len(qa.Variants) > 0 {
				q.Axes[i].Variants = qa.Variants
			}
		}
	}
	q.Quick = nil
	return &q
}

// applyKeys overlays train keys (flag names) on c, as a --config file would;
// unknown keys are an error.
func applyKeys(c train.Config, keys map[string]any) (train.Config, error) {
	if len(keys) == 0 {
		return c, nil
	}
	for _, k := range []string{"out", "resume", "seed", "tokenizer"} { // the tokenizer is the base's
		if _, ok := keys[k]; ok {
			return c, fmt.Errorf("%s is set by the experiment runner", k)
		}
	}
	err := trainconfig.ApplyKeys(&c, keys) // sets new slices: c's caller keeps its own
	return c, err
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Run is one point of the grid for one seed.
type Run struct {
	ID     string
	Levels []string // one label per axis, in axis order
	Seed   int
	Config train.Config // Out, Seed and data paths filled in by the runner
}

// Runs expands the grid: every combination of axis levels (first axis
// slowest) times seeds 0..Seeds-1 (at least one).
func (s *Sweep) Runs() ([]Run, error) {
	// A sweep measures where each run ends (final validation loss, metric
	// of the final weights), so --keep-best is off unless the sweep sets it.
	def := train.DefaultConfig()
	def.KeepBest = false
	base, err := applyKeys(def, s.Train)
	if err != nil {
		return nil, fmt.Errorf("experiment: %s: train: %w", s.Name, err)
	}
	combos := [][]level{nil}
	for _, a := range s.Axes {
		var next [][]level
		for _, c := range combos {
			for _, l := range a.levels() {
				next = append(next, append(append([]level(nil), c...), l))
			}
		}
		combos = next
	}
	seeds := max(s.Seeds, 1)
	var runs []Run
	for _, c := range combos {
		cfg := base
		labels := make([]string, len(c))
		var id []string
		for i, l := range c {
			if cfg, err = applyKeys(cfg, l.Set); err != nil {
				return nil, fmt.Errorf("experiment: %s: %s=%s: %w", s.Name, s.Axes[i].AxisName(), l.Label, err)
			}
			labels[i] = l.Label
			id = append(id, s.Axes[i].AxisName()+"-"+l.Label)
		}
		for seed := 0; seed < seeds; seed++ {
			r := Run{Levels: labels, Seed: seed, Config: cfg}
			r.Config.Targets = append([]string(nil), cfg.Targets...)
			r.Config.Seed = int64(seed)
			r.ID = sanitize(strings.Join(append(id, "seed-"+strconv.Itoa(seed)), "_"))
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// maxSeeds and maxRuns bound what a sweep file can ask for before the grid
// is expanded in memory.
const (
	maxSeeds = 1000
	maxRuns  = 100000
)

// plainName reports whether s is a portable file name that stays in its
// folder: no separators, not "." or "..", no control characters.
func plainName(s string) bool {
	return s != "" && len(s) <= 200 && s != "." && s != ".." && sanitize(s) == s
}

// sanitize keeps run ids portable folder names.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '+':
			return r
		}
		return '~'
	}, s)
}
