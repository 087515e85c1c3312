package trainconfig

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/golora/golora/train"
)

// Aliases are the keys of mlx-lm's LoRA configs (mlx_lm.lora --config)
// that golora reads as its own, by the flag name they set. Its
// lora_parameters mapping is read too: rank, alpha, dropout and keys set
// --r, --alpha, --dropout and --targets, and scale (mlx-lm's multiplier of
// the low-rank product) sets --alpha to scale × rank, since golora scales
// by alpha/r as PEFT does.
var Aliases = map[string]string{
	"iters":            "steps",
	"batch_size":       "batch",
	"learning_rate":    "lr",
	"max_seq_length":   "seq-len",
	"adapter_path":     "out",
	"fine_tune_type":   "method",
	"val_batches":      "eval-batches",
	"steps_per_eval":   "eval-every",
	"steps_per_report": "log-every",
	"save_every":       "save-every",
}

var loraParamAliases = map[string]string{"rank": "r", "alpha": "alpha", "dropout": "dropout", "keys": "targets"}

// LoadYAML overlays the keys present in a YAML file onto c. Every error
// names the file, the line and the key in the terms of the flags; an
// unknown key is an error (a typo would otherwise be silently ignored).
func LoadYAML(c *train.Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	where := func(line int) string { return fmt.Sprintf("--config %s: line %d", path, line) }
	return decodeYAML(c, b, "--config "+path, where)
}

// ApplyKeys overlays settings given as a map (the train keys of an
// experiment sweep, already parsed) onto c, with LoadYAML's keys, aliases
// and checks; errors name the key.
func ApplyKeys(c *train.Config, keys map[string]any) error {
	b, err := yaml.Marshal(keys)
	if err != nil {
		return err
	}
	return decodeYAML(c, b, "train keys", func(int) string { return "train keys" })
}

// decodeYAML applies the YAML document b to c; name prefixes syntax errors
// and where(line) every other error.
func decodeYAML(c *train.Config, b []byte, name string, where func(line int) string) error {
	fail := func(line int, format string, a ...any) error {
		return fmt.Errorf("%s: %s", where(line), fmt.Sprintf(format, a...))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %s (YAML syntax)", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 { // an empty file
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fail(root.Line, "want one \"key: value\" per line (keys are golora train's flag names)")
	}
	entries, err := flatten(root, fail)
	if err != nil {
		return err
	}
	fields := yamlFields()
	seen := map[string]int{}
	var scale *yaml.Node
	for _, e := range entries {
		if e.key == "scale" {
			scale = e.value
			continue
		}
		if first, dup := seen[e.key]; dup {
			return fail(e.line, "%s sets --%s, already set on line %d", e.name, e.key, first)
		}
		seen[e.key] = e.line
		idx, ok := fields[e.key]
		if !ok {
			return fail(e.line, "unknown key %q%s; the keys are golora train's flag names (steps, lr, batch, ...) or mlx-lm's (%s)", e.name, suggest(e.name, fields), strings.Join(sortedKeys(Aliases), ", "))
		}
		if err := decode(reflect.ValueOf(c).Elem().FieldByIndex(idx), e.value, e.invert); err != nil {
			return fail(e.line, "%s: %v", e.name, err)
		}
		if c.Explicit != nil {
			c.Explicit[e.key] = true
		}
	}
	if scale != nil {
		var s float64
		if err := scale.Decode(&s); err != nil {
			return fail(scale.Line, "lora_parameters.scale: want a number, got %q", scale.Value)
		}
		c.Alpha = s * float64(c.R)
		if c.Explicit != nil {
			c.Explicit["alpha"] = true
		}
	}
	return nil
}

// entry is one setting of the file: the key as written (name), the flag it
// sets (key), and whether a boolean is inverted (mlx-lm's mask_prompt is
// golora's train-on-all negated).
type entry struct {
	name, key string
	line      int
	value     *yaml.Node
	invert    bool
}

// flatten resolves aliases and lora_parameters into flag-named entries.
func flatten(root *yaml.Node, fail func(int, string, ...any) error) ([]entry, error) {
	var out []entry
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		e := entry{name: k.Value, key: k.Value, line: k.Line, value: v}
		switch {
		case k.Value == "lora_parameters":
			if v.Kind != yaml.MappingNode {
				return nil, fail(k.Line, "lora_parameters: want a mapping of rank, alpha or scale, dropout, keys")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				pk, pv := v.Content[j], v.Content[j+1]
				name := "lora_parameters." + pk.Value
				if pk.Value == "scale" {
					out = append(out, entry{name: name, key: "scale", line: pk.Line, value: pv})
					continue
				}
				key, ok := loraParamAliases[pk.Value]
				if !ok {
					return nil, fail(pk.Line, "unknown key %s; lora_parameters takes rank, alpha, scale, dropout and keys", name)
				}
				out = append(out, entry{name: name, key: key, line: pk.Line, value: pv})
			}
			continue
		case k.Value == "mask_prompt":
			e.key, e.invert = "train-on-all", true
		case k.Value == "train" || k.Value == "test":
			// mlx_lm.lora's switches: golora train always trains, and
			// testing is golora eval's job.
			if want := k.Value == "train"; v.Value != strconv.FormatBool(want) {
				return nil, fail(k.Line, "%s: %s: golora train always trains and never tests (use golora eval); remove the key", k.Value, v.Value)
			}
			continue
		default:
			if a, ok := Aliases[k.Value]; ok {
				e.key = a
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// decode sets field from a YAML value, explaining a mismatch in words.
func decode(field reflect.Value, v *yaml.Node, invert bool) error {
	if v.Kind == yaml.ScalarNode && field.Kind() == reflect.Slice && v.Tag == "!!str" {
		// "q,v" is a list, as on the command line.
		var err error
		switch field.Interface().(type) {
		case []string:
			field.Set(reflect.ValueOf(splitList(v.Value)))
		case []int:
			var ids intsValue
			err = ids.Set(v.Value)
			field.Set(reflect.ValueOf([]int(ids)))
		}
		return err
	}
	ptr := reflect.New(field.Type())
	isInt := field.Kind() == reflect.Int || field.Kind() == reflect.Int64
	if err := v.Decode(ptr.Interface()); err != nil || (isInt && v.ShortTag() != "!!int") { // yaml.v3 would truncate 2.5
		return fmt.Errorf("want %s, got %q", kindName(field.Type()), v.Value)
	}
	if invert {
		ptr.Elem().SetBool(!ptr.Elem().Bool())
	}
	field.Set(ptr.Elem())
	return nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Int {
			return "a list of token ids"
		}
		return "a list (or a comma-separated string)"
	}
	return "a string"
}

// yamlFields maps each yaml key of train.Config (inline ModelShape
// included) to its field index.
func yamlFields() map[string][]int {
	out := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			idx := append(append([]int(nil), prefix...), i)
			switch {
			case opts == "inline":
				walk(f.Type, idx)
			case name != "" && name != "-":
				out[name] = idx
			}
		}
	}
	walk(reflect.TypeOf(train.Config{}), nil)
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest known key.
func suggest(name string, fields map[string][]int) string {
	best, bestD := "", 4
	for _, k := range append(sortedKeys(fields), sortedKeys(Aliases)...) {
		if d := editDistance(strings.ReplaceAll(name, "_", "-"), strings.ReplaceAll(k, "_", "-")); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
