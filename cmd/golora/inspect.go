package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/golora/golora/format/llama2c"
	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

var inspectFlags struct {
	json    bool
	tensors bool
}

var inspectCmd = &cobra.Command{
	Use:   "inspect PATH",
	Short: "Summarise a model or adapter: architecture, tensors, dtypes, parameter counts",
	Long: `Summarise a model or adapter without loading it for compute.

PATH may be a Hugging Face model folder (config.json with model.safetensors or
a sharded model.safetensors.index.json), a PEFT adapter folder
(adapter_config.json + adapter_model.safetensors), a single .safetensors file,
or a llama2.c .bin checkpoint. Tensors are listed for small models
(up to 100 tensors) or with --tensors; --json prints everything as JSON.`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		rep, err := inspectPath(args[0])
		if err != nil {
			return err
		}
		if inspectFlags.json {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		}
		return rep.print(cmd.OutOrStdout(), inspectFlags.tensors || len(rep.Tensors) <= 100)
	},
}

func init() {
	inspectCmd.Flags().BoolVar(&inspectFlags.json, "json", false, "print the report as JSON")
	inspectCmd.Flags().BoolVar(&inspectFlags.tensors, "tensors", false, "list every tensor even for large models")
	rootCmd.AddCommand(inspectCmd)
}

// inspectReport is what inspect prints; field names are the JSON schema.
type inspectReport struct {
	Path         string            `json:"path"`
	Kind         string            `json:"kind"` // model, adapter, safetensors, llama2c, gguf
	Architecture *archSummary      `json:"architecture,omitempty"`
	Adapter      *adapterSummary   `json:"adapter,omitempty"`
	Files        []string          `json:"files"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	NumTensors   int               `json:"num_tensors"`
	Parameters   int64             `json:"parameters"`
	Bytes        int64             `json:"bytes"`            // tensor data bytes as stored
	DTypes       map[string]int64  `json:"dtype_parameters"` // parameters per stored dtype
	Tensors      []tensorSummary   `json:"tensors"`
}

type tensorSummary struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Numel int64  `json:"numel"`
}

// archSummary normalises the config.json keys of the common families (GPT-2
// uses n_embd/n_layer/n_head, Llama-likes hidden_size/num_hidden_layers/...).
type archSummary struct {
	ModelType         string   `json:"model_type,omitempty"`
	Architectures     []string `json:"architectures,omitempty"`
	HiddenSize        int      `json:"hidden_size,omitempty"`
	NumLayers         int      `json:"num_hidden_layers,omitempty"`
	NumHeads          int      `json:"num_attention_heads,omitempty"`
	NumKVHeads        int      `json:"num_key_value_heads,omitempty"`
	HeadDim           int      `json:"head_dim,omitempty"`
	IntermediateSize  int      `json:"intermediate_size,omitempty"`
	VocabSize         int      `json:"vocab_size,omitempty"`
	MaxPositions      int      `json:"max_position_embeddings,omitempty"`
	TieWordEmbeddings bool     `json:"tie_word_embeddings"`
	RopeTheta         float64  `json:"rope_theta,omitempty"`
	NormEps           float64  `json:"norm_eps,omitempty"`
	Activation        string   `json:"activation,omitempty"`
	DType             string   `json:"dtype,omitempty"`
	// Family holds the settings particular to a family (RoPE scaling,
	// sliding window, soft-caps, multipliers, q/k norm, layers without RoPE).
	Family *familySettings `json:"family_settings,omitempty"`
}

type adapterSummary struct {
	PeftType  string `json:"peft_type,omitempty"`
	BaseModel string `json:"base_model_name_or_path,omitempty"`
	// BaseModelUse says which model commands given only this adapter load:
	// a local path, the embedded model, or why none.
	BaseModelUse  string         `json:"base_model_use,omitempty"`
	R             int            `json:"r"`
	LoraAlpha     float64        `json:"lora_alpha"`
	Scaling       float64        `json:"scaling"` // alpha/r or alpha/sqrt(r); per-module patterns not applied
	TargetModules any            `json:"target_modules"`
	UseRSLoRA     bool           `json:"use_rslora"`
	UseDoRA       bool           `json:"use_dora"`
	RankPattern   map[string]any `json:"rank_pattern,omitempty"`
	AlphaPattern  map[string]any `json:"alpha_pattern,omitempty"`
	Modules       int            `json:"adapted_modules"`
	Trainable     int64          `json:"trainable_parameters"`
	Warnings      []string       `json:"warnings,omitempty"` // keys this version does not know (kept when re-saved)
}

// inspectPath works out what PATH is and summarises it.
func inspectPath(path string) (*inspectReport, error) {
	st, err := os.Stat(path)
	if err != nil && model.IsHubID(path) { // a hub id in the local cache
		if path, err = model.Resolve(path); err == nil {
			st, err = os.Stat(path)
		}
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		switch base := filepath.Base(path); {
		case base == "config.json" || base == "adapter_config.json":
			return inspectPath(filepath.Dir(path))
		case strings.HasSuffix(base, ".gguf"):
			return inspectGGUF(path)
		case strings.HasSuffix(base, ".safetensors") || strings.HasSuffix(base, ".index.json"):
			rep := &inspectReport{Path: path, Kind: "safetensors"}
			return rep, rep.addWeights(path)
		default:
			return inspectLlama2c(path)
		}
	}
	if _, err := os.Stat(filepath.Join(path, "adapter_config.json")); err == nil {
		return inspectAdapter(path)
	}
	rep := &inspectReport{Path: path, Kind: "model"}
	if cfg, err := inspectReadJSON(filepath.Join(path, "config.json")); err == nil {
		rep.Architecture = inspectConfig(cfg)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := rep.addWeights(path); err != nil {
		return nil, err
	}
	if a := rep.Architecture; a != nil {
		f := a.Family
		if f == nil {
			f = &familySettings{}
		}
		if f.fromTensors(rep.Tensors, a.HeadDim); f.QKNorm != "" || len(f.Fused) > 0 {
			a.Family = f
		}
	}
	return rep, nil
}

// addWeights opens the safetensors at path (file, index or folder) and adds
// every tensor to the report.
func (rep *inspectReport) addWeights(path string) error {
	src, err := safetensors.OpenDir(path)
	if err != nil {
		return err
	}
	defer src.Close()
	switch s := src.(type) {
	case *safetensors.File:
		rep.Files = append(rep.Files, filepath.Base(s.Path()))
	case *safetensors.Sharded:
		rep.Files = append(rep.Files, s.Shards()...)
	}
	rep.Metadata = src.Metadata()
	for _, n := range src.Names() {
		in, _ := src.Info(n)
		rep.add(n, in.DType, in.Shape, in.End-in.Begin)
	}
	return nil
}

func (rep *inspectReport) add(name, dtype string, shape []int, nbytes int64) {
	numel := int64(1)
	for _, d := range shape {
		numel *= int64(d)
	}
	if rep.DTypes == nil {
		rep.DTypes = map[string]int64{}
	}
	rep.Tensors = append(rep.Tensors, tensorSummary{Name: name, DType: dtype, Shape: shape, Numel: numel})
	rep.NumTensors++
	rep.Parameters += numel
	rep.Bytes += nbytes
	rep.DTypes[dtype] += numel
}

func inspectLlama2c(path string) (*inspectReport, error) {
	c, err := llama2c.ReadHeader(path)
	if err != nil {
		return nil, fmt.Errorf("%s is neither safetensors nor a llama2.c checkpoint: %w", path, err)
	}
	hf := c.HFConfig()
	rep := &inspectReport{Path: path, Kind: "llama2c", Files: []string{filepath.Base(path)},
		Architecture: &archSummary{
			ModelType: hf.ModelType, Architectures: hf.Architectures, HiddenSize: hf.HiddenSize,
			NumLayers: hf.NumHiddenLayers, NumHeads: hf.NumAttentionHeads, NumKVHeads: hf.NumKeyValueHeads,
			HeadDim: hf.HeadDim, IntermediateSize: hf.IntermediateSize, VocabSize: hf.VocabSize,
			MaxPositions: hf.MaxPositionEmbeddings, TieWordEmbeddings: hf.TieWordEmbeddings,
			RopeTheta: hf.RopeTheta, NormEps: hf.RMSNormEps, Activation: hf.HiddenAct, DType: "float32",
		}}
	shapes := c.HFShapes()
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		numel := int64(1)
		for _, d := range shapes[n] {
			numel *= int64(d)
		}
		rep.add(n, "F32", shapes[n], 4*numel)
	}
	return rep, nil
}

func inspectAdapter(dir string) (*inspectReport, error) {
	cfg, err := inspectReadJSON(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		return nil, err
	}
	rep := &inspectReport{Path: dir, Kind: "adapter"}
	if err := rep.addWeights(filepath.Join(dir, "adapter_model.safetensors")); err != nil {
		return nil, err
	}
	ad := &adapterSummary{TargetModules: cfg["target_modules"], R: 8, LoraAlpha: 8, Trainable: rep.Parameters}
	ad.PeftType, _ = cfg["peft_type"].(string)
	ad.BaseModel, _ = cfg["base_model_name_or_path"].(string)
	switch _, note, err := model.ResolveBase(ad.BaseModel); {
	case errors.Is(err, model.ErrNotInCache):
		ad.BaseModelUse = "none: neither a local path nor in the Hugging Face cache " + model.HubCacheDir() + " (give --model)"
	case err != nil:
		ad.BaseModelUse = "none: " + err.Error()
	default:
		ad.BaseModelUse = note
	}
	if r, ok := inspectInt(cfg, "r"); ok {
		ad.R = r
	}
	if a, ok := cfg["lora_alpha"].(float64); ok {
		ad.LoraAlpha = a
	}
	ad.UseRSLoRA, _ = cfg["use_rslora"].(bool)
	ad.UseDoRA, _ = cfg["use_dora"].(bool)
	ad.RankPattern, _ = cfg["rank_pattern"].(map[string]any)
	ad.AlphaPattern, _ = cfg["alpha_pattern"].(map[string]any)
	if ad.R > 0 {
		ad.Scaling = ad.LoraAlpha / float64(ad.R)
		if ad.UseRSLoRA {
			ad.Scaling = ad.LoraAlpha / math.Sqrt(float64(ad.R))
		}
	}
	modules := map[string]bool{}
	for _, t := range rep.Tensors {
		if i := strings.Index(t.Name, ".lora_A."); i >= 0 {
			modules[t.Name[:i]] = true
		} else if strings.HasSuffix(t.Name, ".lora_A.weight") || strings.HasSuffix(t.Name, ".lora_A") {
			modules[strings.TrimSuffix(strings.TrimSuffix(t.Name, ".weight"), ".lora_A")] = true
		} else if m, ok := strings.CutSuffix(t.Name, ".lora_embedding_A"); ok {
			modules[m] = true
		} else if strings.HasSuffix(t.Name, ".base_layer.weight") {
			// the base table PEFT saves beside LoRA on an embedding: not trained
			ad.Trainable -= t.Numel
		}
	}
	ad.Modules = len(modules)
	if c, err := lora.ReadConfig(dir); err == nil {
		ad.Warnings = c.Warnings
	} else {
		ad.Warnings = []string{"golora cannot load this adapter: " + err.Error()}
	}
	rep.Adapter = ad
	return rep, nil
}

// inspectMaxJSON bounds config.json reads; real ones are a few kilobytes.
const inspectMaxJSON = 16 << 20

func inspectReadJSON(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, inspectMaxJSON+1))
	if err != nil {
		return nil, err
	}
	if len(b) > inspectMaxJSON {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, inspectMaxJSON)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	return m, nil
}

// inspectInt returns the first of keys holding a whole number.
func inspectInt(m map[string]any, keys ...string) (int, bool) {
	for _, k := range keys {
		if v, ok := m[k].(float64); ok && v == float64(int(v)) {
			return int(v), true
		}
	}
	return 0, false
}

func inspectConfig(cfg map[string]any) *archSummary {
	a := &archSummary{}
	a.ModelType, _ = cfg["model_type"].(string)
	if archs, ok := cfg["architectures"].([]any); ok {
		for _, x := range archs {
			if s, ok := x.(string); ok {
				a.Architectures = append(a.Architectures, s)
			}
		}
	}
	a.HiddenSize, _ = inspectInt(cfg, "hidden_size", "n_embd", "d_model")
	a.NumLayers, _ = inspectInt(cfg, "num_hidden_layers", "n_layer", "num_layers")
	a.NumHeads, _ = inspectInt(cfg, "num_attention_heads", "n_head")
	var ok bool
	if a.NumKVHeads, ok = inspectInt(cfg, "num_key_value_heads", "n_kv_heads"); !ok {
		a.NumKVHeads = a.NumHeads
	}
	if a.HeadDim, ok = inspectInt(cfg, "head_dim"); !ok && a.NumHeads > 0 {
		a.HeadDim = a.HiddenSize / a.NumHeads
	}
	a.IntermediateSize, _ = inspectInt(cfg, "intermediate_size", "n_inner", "ffn_dim")
	if a.ModelType == "gpt2" { // GPT-2 ignores intermediate_size; n_inner null means 4·n_embd
		if a.IntermediateSize, ok = inspectInt(cfg, "n_inner"); !ok {
			a.IntermediateSize = 4 * a.HiddenSize
		}
	}
	a.VocabSize, _ = inspectInt(cfg, "vocab_size")
	a.MaxPositions, _ = inspectInt(cfg, "max_position_embeddings", "n_positions", "n_ctx")
	a.TieWordEmbeddings = true // transformers' default, omitted from most GPT-2 configs
	if v, ok := cfg["tie_word_embeddings"].(bool); ok {
		a.TieWordEmbeddings = v
	}
	a.RopeTheta, _ = cfg["rope_theta"].(float64) // rope_parameters (v5): see inspectFamily
	for _, k := range []string{"rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps"} {
		if v, ok := cfg[k].(float64); ok {
			a.NormEps = v
			break
		}
	}
	// GPT-2 configs carry an unused hidden_act beside the real
	// activation_function; Gemma's hidden_activation wins over hidden_act.
	for _, k := range []string{"activation_function", "hidden_activation", "hidden_act"} {
		if v, ok := cfg[k].(string); ok {
			a.Activation = v
			break
		}
	}
	for _, k := range []string{"torch_dtype", "dtype"} {
		if v, ok := cfg[k].(string); ok {
			a.DType = v
			break
		}
	}
	a.Family = inspectFamily(cfg, a)
	return a
}

func (rep *inspectReport) print(w io.Writer, listTensors bool) error {
	// Every string from the file goes through printable: a name may hold
	// terminal escapes, and tabwriter pads every row to the widest cell, so
	// one megabyte-long name would otherwise print once per tensor.
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "path:\t%s\n", printable(rep.Path))
	fmt.Fprintf(tw, "kind:\t%s\n", rep.Kind)
	if a := rep.Architecture; a != nil {
		arch := a.ModelType
		if len(a.Architectures) > 0 {
			arch += " (" + strings.Join(a.Architectures, ", ") + ")"
		}
		fmt.Fprintf(tw, "architecture:\t%s\n", printable(arch))
		fmt.Fprintf(tw, "hidden size:\t%d\n", a.HiddenSize)
		fmt.Fprintf(tw, "layers:\t%d\n", a.NumLayers)
		explicit := ""
		if a.NumHeads > 0 && a.HeadDim != a.HiddenSize/a.NumHeads {
			explicit = fmt.Sprintf(", set explicitly: hidden/heads is %d", a.HiddenSize/a.NumHeads)
		}
		fmt.Fprintf(tw, "heads:\t%d (kv heads %d, head dim %d%s)\n", a.NumHeads, a.NumKVHeads, a.HeadDim, explicit)
		fmt.Fprintf(tw, "intermediate size:\t%d\n", a.IntermediateSize)
		fmt.Fprintf(tw, "vocab size:\t%d\n", a.VocabSize)
		fmt.Fprintf(tw, "max positions:\t%d\n", a.MaxPositions)
		fmt.Fprintf(tw, "tied embeddings:\t%v\n", a.TieWordEmbeddings)
		if a.RopeTheta != 0 {
			fmt.Fprintf(tw, "rope theta:\t%g\n", a.RopeTheta)
		}
		if a.NormEps != 0 {
			fmt.Fprintf(tw, "norm eps:\t%g\n", a.NormEps)
		}
		if a.Activation != "" {
			fmt.Fprintf(tw, "activation:\t%s\n", printable(a.Activation))
		}
		if a.DType != "" {
			fmt.Fprintf(tw, "config dtype:\t%s\n", printable(a.DType))
		}
		if a.Family != nil {
			a.Family.print(tw, a.NumLayers)
		}
	}
	if ad := rep.Adapter; ad != nil {
		fmt.Fprintf(tw, "peft type:\t%s\n", printable(ad.PeftType))
		fmt.Fprintf(tw, "base model:\t%s\n", printable(ad.BaseModel))
		if ad.BaseModelUse != "" {
			fmt.Fprintf(tw, "base model in use:\t%s\n", printable(ad.BaseModelUse))
		}
		fmt.Fprintf(tw, "r:\t%d\n", ad.R)
		fmt.Fprintf(tw, "lora_alpha:\t%g (scaling %.4g%s)\n", ad.LoraAlpha, ad.Scaling, map[bool]string{true: ", rsLoRA"}[ad.UseRSLoRA])
		tm, _ := json.Marshal(ad.TargetModules)
		fmt.Fprintf(tw, "target modules:\t%s\n", printable(string(tm)))
		if ad.UseDoRA {
			fmt.Fprintf(tw, "DoRA:\ttrue\n")
		}
		if len(ad.RankPattern) > 0 || len(ad.AlphaPattern) > 0 {
			rp, _ := json.Marshal(ad.RankPattern)
			ap, _ := json.Marshal(ad.AlphaPattern)
			fmt.Fprintf(tw, "rank/alpha pattern:\t%s %s\n", printable(string(rp)), printable(string(ap)))
		}
		fmt.Fprintf(tw, "adapted modules:\t%d\n", ad.Modules)
		fmt.Fprintf(tw, "trainable params:\t%s\n", inspectCommas(ad.Trainable))
		for _, w := range ad.Warnings {
			fmt.Fprintf(tw, "warning:\t%s\n", printable(w))
		}
	}
	fmt.Fprintf(tw, "files:\t%s\n", printable(strings.Join(rep.Files, ", ")))
	if len(rep.Metadata) > 0 {
		md, _ := json.Marshal(rep.Metadata)
		fmt.Fprintf(tw, "metadata:\t%s\n", printable(string(md)))
	}
	dts := make([]string, 0, len(rep.DTypes))
	for dt, n := range rep.DTypes {
		dts = append(dts, fmt.Sprintf("%s %s", printable(dt), inspectCommas(n)))
	}
	sort.Strings(dts)
	fmt.Fprintf(tw, "tensors:\t%d\n", rep.NumTensors)
	fmt.Fprintf(tw, "parameters:\t%s (%s; %s bytes)\n", inspectCommas(rep.Parameters), strings.Join(dts, ", "), inspectCommas(rep.Bytes))
	if err := tw.Flush(); err != nil {
		return err
	}
	if !listTensors {
		_, err := fmt.Fprintf(w, "(%d tensors not listed; use --tensors)\n", rep.NumTensors)
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tDTYPE\tSHAPE\tPARAMS\n")
	for _, t := range rep.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", printable(t.Name), printable(t.DType), t.Shape, inspectCommas(t.Numel))
	}
	return tw.Flush()
}

// maxPrintable is the longest string inspect prints as is.
const maxPrintable = 200

// printable makes a string from a file safe for a terminal: control
// characters, invalid UTF-8 and tabs are escaped as Go does (\x1b, \t),
// and anything past maxPrintable runes is cut, with its full length noted.
func printable(s string) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == maxPrintable {
			fmt.Fprintf(&b, "…(%d bytes)", len(s))
			break
		}
		n++
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsPrint(r) && r != ' ':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// inspectCommas formats 260032 as 260,032.
func inspectCommas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
