package model

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/format/llama2c"
	"github.com/golora/golora/tensor"
)

// GGUF files name tensors and config keys the llama.cpp way. The mapping is
// one table used in both directions (loading and export), so a model
// written by SaveGGUF loads back bit for bit and one from llama.cpp's
// converter loads as its Hugging Face original would.
//
// Per architecture, as llama.cpp's convert_hf_to_gguf.py converts:
//   - llama (Llama, Mistral), granite, smollm3: q/k rows permuted for adjacent-pair RoPE;
//     undone on load (llama2c.PermuteToHF), redone on export.
//   - qwen2, qwen3: names only (RoPE stays in rotate_half form); qwen3's
//     per-head q/k RMSNorms are attn_q_norm/attn_k_norm.
//   - gemma2, gemma3 (gemma3_text): the sandwich norms are attn_norm,
//     post_attention_norm, ffn_norm (pre-feed-forward) and post_ffw_norm;
//     every RMSNorm weight w is stored as 1+w (the converter's norm_shift),
//     since llama.cpp's graph multiplies by the stored weight.
//   - phi3: the fused projections keep their layout (attn_qkv is q, k, v
//     rows; ffn_up is gate then up rows, split by llama.cpp's SwiGLU);
//     LongRoPE's factors are the tensors rope_factors_long/_short.
//   - olmo2: no pre-norms; post_attention_norm and post_ffw_norm after the
//     sublayers, attn_q_norm/attn_k_norm over whole projections.
//   - gpt2: Conv1D weights ([in, out] in HF files) are stored [out, in].

// ggufTop maps HF top-level module names to GGUF names, per family.
var ggufTop = map[string]map[string]string{
	"llama": {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"},
	"gemma": {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"},
	"olmo2": {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"},
	"phi3":  {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"},
	"gpt2":  {"transformer.wte": "token_embd", "transformer.wpe": "position_embd", "transformer.ln_f": "output_norm", "lm_head": "output"},
}

// ggufLayer maps HF per-layer module names to GGUF's blk.N names.
var ggufLayer = map[string]map[string]string{
	"llama": {
		"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
		"self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
		"mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
		"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
	},
	"gemma": {
		"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
		"self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "post_attention_norm",
		"pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
		"mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
		"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
	},
	"olmo2": {
		"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
		"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "post_attention_norm",
		"post_feedforward_layernorm": "post_ffw_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
	},
	"phi3": {
		"input_layernorm": "attn_norm", "self_attn.qkv_proj": "attn_qkv", "self_attn.o_proj": "attn_output",
		"post_attention_layernorm": "ffn_norm", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
	},
	"gpt2": {
		"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
		"ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down",
	},
}

// ggufArch is the GGUF general.architecture of a model_type.
func ggufArch(modelType string) (arch, table string, ok bool) {
	switch modelType {
	case "llama", "mistral":
		return "llama", "llama", true
	case "qwen2", "qwen3":
		return modelType, "llama", true
	case "granite", "smollm3":
		return modelType, "llama", true
	case "olmo2", "phi3":
		return modelType, modelType, true
	case "gemma2":
		return "gemma2", "gemma", true
	case "gemma3_text":
		return "gemma3", "gemma", true
	case "gpt2":
		return "gpt2", "gpt2", true
	}
	return "", "", false
}

var hfLayerRe = regexp.MustCompile(`^(?:model\.layers|transformer\.h)\.(\d+)\.(.+)$`)

// GGUFName maps a Hugging Face tensor or module name (with or without a
// .weight/.bias suffix) of a model_type to its GGUF name.
func GGUFName(modelType, hf string) (string, bool) {
	_, table, ok := ggufArch(modelType)
	if !ok {
		return "", false
	}
	base, suffix := hf, ""
	for _, s := range []string{".weight", ".bias"} {
		if strings.HasSuffix(hf, s) {
			base, suffix = strings.TrimSuffix(hf, s), s
		}
	}
	if g, ok := ggufTop[table][base]; ok {
		return g + suffix, true
	}
	if m := hfLayerRe.FindStringSubmatch(base); m != nil {
		if g, ok := ggufLayer[table][m[2]]; ok {
			return "blk." + m[1] + "." + g + suffix, true
		}
	}
	return "", false
}

// hfNames inverts GGUFName for the tensors of cfg's model.
func hfNames(cfg *Config) map[string]string {
	_, table, _ := ggufArch(cfg.ModelType)
	out := map[string]string{}
	for hf, g := range ggufTop[table] {
		for _, s := range []string{".weight", ".bias"} {
			out[g+s] = hf + s
		}
	}
	prefix := "model.layers."
	if table == "gpt2" {
		prefix = "transformer.h."
	}
	for l := 0; l < cfg.NumHiddenLayers; l++ {
		for hf, g := range ggufLayer[table] {
			for _, s := range []string{".weight", ".bias"} {
				out["blk."+strconv.Itoa(l)+"."+g+s] = prefix + strconv.Itoa(l) + "." + hf + s
			}
		}
	}
	return out
}

// convertLayout converts an HF-layout tensor to GGUF's layout (toGGUF) or
// back.
func convertLayout(cfg *Config, hf string, t *tensor.Tensor, toGGUF bool) *tensor.Tensor {
	if cfg.ModelType == "gpt2" && len(t.Shape) == 2 && (strings.HasSuffix(hf, "attn.c_attn.weight") || strings.HasSuffix(hf, "attn.c_proj.weight") ||
		strings.HasSuffix(hf, "mlp.c_fc.weight") || strings.HasSuffix(hf, "mlp.c_proj.weight")) {
		r, c := t.Shape[0], t.Shape[1]
		out := tensor.New(c, r)
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				out.Data[j*r+i] = t.Data[i*c+j]
			}
		}
		return out
	}
	if cfg.gemma() && strings.HasSuffix(hf, "norm.weight") {
		shift := float32(-1)
		if toGGUF {
			shift = 1
		}
		out := tensor.New(t.Shape...)
		for i, v := range t.Data {
			out.Data[i] = v + shift
		}
		return out
	}
	return GGUFPermuteRows(cfg, hf, t, toGGUF)
}

// GGUFPermuteRows applies llama.cpp's q/k row permutation of arch llama to
// the output rows of t, a tensor of HF module hf (a weight, a bias, or a
// LoRA B): HF's rotate_half order to adjacent pairs when toGGUF, back
// otherwise. Other tensors and families are returned as they are.
func GGUFPermuteRows(cfg *Config, hf string, t *tensor.Tensor, toGGUF bool) *tensor.Tensor {
	switch cfg.ModelType {
	case "llama", "mistral", "granite", "smollm3":
	default:
		return t
	}
	heads := 0
	switch {
	case strings.Contains(hf, "self_attn.q_proj"):
		heads = cfg.NumAttentionHeads
	case strings.Contains(hf, "self_attn.k_proj"):
		heads = cfg.NumKeyValueHeads
	default:
		return t
	}
	cols := 1
	if len(t.Shape) == 2 {
		cols = t.Shape[1]
	}
	if toGGUF {
		return tensor.From(llama2c.PermuteFromHF(t.Data, heads, cfg.HeadDim, cols), t.Shape...)
	}
	return tensor.From(llama2c.PermuteToHF(t.Data, heads, cfg.HeadDim, cols), t.Shape...)
}

// ggufSource presents a GGUF file's tensors under HF names in HF layout,
// dequantized to float32 one tensor at a time, for the families' loaders.
type ggufSource struct {
	f     *gguf.File
	cfg   *Config
	names map[string]string // HF → GGUF
}

func (s *ggufSource) Names() []string {
	var ns []string
	for hf := range s.names {
		ns = append(ns, hf)
	}
	return ns
}

func (s *ggufSource) Tensor(hf string) (*tensor.Tensor, error) {
	g, ok := s.names[hf]
	if !ok {
		return nil, fmt.Errorf("tensor %q not found", hf)
	}
	t, err := s.f.Float32(g)
	if err != nil {
		return nil, err
	}
	return convertLayout(s.cfg, hf, t, false), nil
}

// Release drops the tensor's mapped pages (see loadWeights).
func (s *ggufSource) Release(hf string) {
	if g, ok := s.names[hf]; ok {
		s.f.Release(g)
	}
}

// ConfigFromGGUF builds the HF config of a GGUF model from its metadata.
func ConfigFromGGUF(f *gguf.File) (*Config, error) {
	arch, _ := f.String("general.architecture")
	bad := func(format string, a ...any) error {
		return fmt.Errorf("model: %s: "+format, append([]any{f.Path()}, a...)...)
	}
	geti := func(key string) (int, error) {
		v, ok := f.Int(arch + "." + key)
		if !ok || v <= 0 {
			return 0, bad("missing or invalid %s.%s", arch, key)
		}
		return v, nil
	}
	var c Config
	var err error
	vocab := 0
	if ti, ok := f.Info("token_embd.weight"); ok && len(ti.Dims) == 2 {
		vocab = ti.Dims[1]
	} else {
		return nil, bad("%w: no 2-D token_embd.weight", ErrMissingTensor)
	}
	_, hasOutput := f.Info("output.weight")
	tied := !hasOutput
	c.VocabSize, c.TieWordEmbeddings = vocab, &tied
	if id, ok := f.Int("tokenizer.ggml.bos_token_id"); ok {
		c.BOSTokenID = TokenIDs{id}
	}
	if id, ok := f.Int("tokenizer.ggml.eos_token_id"); ok {
		c.EOSTokenID = TokenIDs{id}
	}
	fields := []struct {
		key string
		dst *int
	}{}
	switch arch {
	case "llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "olmo2", "granite", "smollm3":
		c.ModelType = arch
		if arch == "gemma3" {
			c.ModelType = "gemma3_text"
		}
		fields = append(fields, []struct {
			key string
			dst *int
		}{{"embedding_length", &c.HiddenSize}, {"block_count", &c.NumHiddenLayers}, {"feed_forward_length", &c.IntermediateSize},
			{"attention.head_count", &c.NumAttentionHeads}, {"context_length", &c.MaxPositionEmbeddings}}...)
	case "gpt2":
		c.ModelType = arch
		var inner int
		c.NInner = &inner
		fields = append(fields, []struct {
			key string
			dst *int
		}{{"embedding_length", &c.NEmbd}, {"block_count", &c.NLayer}, {"feed_forward_length", &inner},
			{"attention.head_count", &c.NHead}, {"context_length", &c.NPositions}}...)
	case "":
		return nil, bad("%w: no general.architecture", ErrUnsupportedModel)
	default:
		return nil, bad("%w: GGUF architecture %q (expected llama, qwen2, qwen3, gemma2, gemma3, phi3, olmo2, granite, smollm3 or gpt2)", ErrUnsupportedModel, arch)
	}
	for _, fl := range fields {
		if *fl.dst, err = geti(fl.key); err != nil {
			return nil, err
		}
	}
	switch arch {
	case "gpt2":
		if e, ok := f.Float("gpt2.attention.layer_norm_epsilon"); ok {
			c.LayerNormEpsilon = e
		}
	default:
		c.NumKeyValueHeads = c.NumAttentionHeads
		if v, ok := f.Int(arch + ".attention.head_count_kv"); ok && v > 0 {
			c.NumKeyValueHeads = v
		}
		if v, ok := f.Int(arch + ".attention.key_length"); ok && v > 0 {
			c.HeadDim = v
		}
		if e, ok := f.Float(arch + ".attention.layer_norm_rms_epsilon"); ok {
			c.RMSNormEps = e
		}
		if th, ok := f.Float(arch + ".rope.freq_base"); ok {
			c.RopeTheta = th
		}
		switch s, _ := f.String(arch + ".rope.scaling.type"); s {
		case "", "none":
		case "linear":
			fac, ok := f.Float(arch + ".rope.scaling.factor")
			if !ok || !(fac > 0) {
				return nil, bad("missing or invalid %s.rope.scaling.factor", arch)
			}
			c.RopeScaling = []byte(fmt.Sprintf(`{"rope_type": "linear", "factor": %g}`, fac))
		default:
			return nil, bad("%w: %s.rope.scaling.type %q (default and linear RoPE are implemented)", ErrUnsupportedModel, arch, s)
		}
		if _, ok := f.Info("rope_freqs.weight"); ok {
			// Llama 3's RoPE as llama.cpp stores it: each pair's angle divided
			// by a factor. That is LongRoPE with one set of factors for all
			// lengths and no attention factor, which transformers computes too.
			t, err := f.Float32("rope_freqs.weight")
			if err != nil {
				return nil, bad("%v", err)
			}
			rd := c.HeadDim
			if rd == 0 {
				rd = c.HiddenSize / c.NumAttentionHeads
			}
			if v, ok := f.Int(arch + ".rope.dimension_count"); ok {
				rd = v
			}
			if len(t.Data) != rd/2 || len(c.RopeScaling) > 0 {
				return nil, bad("rope_freqs.weight: %d factors for %d rotary dimensions (want %d), or with %s.rope.scaling.type set", len(t.Data), rd, rd/2, arch)
			}
			c.RopeScaling, _ = json.Marshal(map[string]any{"rope_type": "longrope", "short_factor": t.Data, "long_factor": t.Data, "attention_factor": 1.0})
		}
		if arch == "llama" {
			_, c.AttentionBias = f.Info("blk.0.attn_q.bias")
			_, c.MLPBias = f.Info("blk.0.ffn_up.bias")
		}
		if c.gemma() {
			if err := gemmaFromGGUF(f, &c, bad); err != nil {
				return nil, err
			}
		}
		if arch == "phi3" {
			if err := phi3FromGGUF(f, &c, bad); err != nil {
				return nil, err
			}
		}
		if arch == "granite" {
			// Absent keys: llama.cpp's defaults (no scaling; 1/√head_dim).
			for _, k := range []struct {
				key string
				dst *float64
				def float64
			}{{"embedding_scale", &c.EmbeddingMultiplier, 1}, {"residual_scale", &c.ResidualMultiplier, 1},
				{"logit_scale", &c.LogitsScaling, 1}, {"attention.scale", &c.AttentionMultiplier, 1 / math.Sqrt(float64(c.HiddenSize/c.NumAttentionHeads))}} {
				*k.dst = k.def
				if v, ok := f.Float("granite." + k.key); ok && v != 0 {
					*k.dst = v
				}
			}
		}
	}
	if err := c.Normalize(); err != nil {
		return nil, fmt.Errorf("model: %s: %w", f.Path(), err)
	}
	return &c, nil
}

// gemmaFromGGUF sets what llama.cpp's gemma2/gemma3 loaders fix or read
// (src/llama-model.cpp, load_hparams): the sliding window of every 2nd
// (gemma2) or of 5 in 6 layers (gemma3), Gemma 3's local RoPE base 10000,
// the query scale 1/√head_dim (1/√(hidden/heads) for the 27B models,
// which llama.cpp tells by their layer count) and Gemma 2's soft-caps,
// 50 and 30 when absent.
func gemmaFromGGUF(f *gguf.File, c *Config, bad func(string, ...any) error) error {
	arch, pattern := "gemma2", 2
	if c.ModelType == "gemma3_text" {
		arch, pattern = "gemma3", 6
		c.RopeLocalBaseFreq = 10000
	}
	w, ok := f.Int(arch + ".attention.sliding_window")
	if !ok || w <= 0 {
		return bad("missing or invalid %s.attention.sliding_window", arch)
	}
	c.SlidingWindow = &w
	c.LayerTypes = gemmaLayerTypes(c.NumHiddenLayers, pattern)
	hd := c.HeadDim
	if hd == 0 {
		hd = c.HiddenSize / c.NumAttentionHeads
	}
	c.QueryPreAttnScalar = float64(hd)
	if gemma27B(c) {
		c.QueryPreAttnScalar = float64(c.HiddenSize / c.NumAttentionHeads)
	}
	if arch == "gemma2" {
		caps := []float64{50, 30}
		for i, k := range []string{"attn_logit_softcapping", "final_logit_softcapping"} {
			if v, ok := f.Float(arch + "." + k); ok {
				caps[i] = v
			}
		}
		c.AttnLogitSoftcapping, c.FinalLogitSoftcapping = &caps[0], &caps[1]
	}
	return nil
}

// phi3FromGGUF reads what llama.cpp's converter writes for Phi-3 beyond
// the common keys: the pre-training context, the rotary dimensions
// (Phi-4-mini rotates 3/4 of each head), the window and LongRoPE (its
// factors as tensors, its attention factor as a key).
func phi3FromGGUF(f *gguf.File, c *Config, bad func(string, ...any) error) error {
	c.OriginalMaxPositionEmbeddings, _ = f.Int("phi3.rope.scaling.original_context_length")
	hd := c.HeadDim
	if hd == 0 {
		hd = c.HiddenSize / c.NumAttentionHeads
	}
	if rd, ok := f.Int("phi3.rope.dimension_count"); ok && rd != hd {
		if rd <= 0 || rd > hd || rd%2 != 0 {
			return bad("phi3.rope.dimension_count %d for heads of %d", rd, hd)
		}
		p := float64(rd) / float64(hd)
		c.PartialRotaryFactor = &p
	}
	if w, ok := f.Int("phi3.attention.sliding_window"); ok && w > 0 {
		c.SlidingWindow = &w
	}
	_, long := f.Info("rope_factors_long.weight")
	_, short := f.Info("rope_factors_short.weight")
	if !long && !short {
		return nil
	}
	var fs [2][]float32
	for i, n := range []string{"rope_factors_long.weight", "rope_factors_short.weight"} {
		t, err := f.Float32(n)
		if err != nil {
			return bad("LongRoPE: %v", err)
		}
		fs[i] = t.Data
	}
	rs := map[string]any{"rope_type": "longrope", "long_factor": fs[0], "short_factor": fs[1]}
	if a, ok := f.Float("phi3.rope.scaling.attn_factor"); ok {
		rs["attention_factor"] = a
	}
	c.RopeScaling, _ = json.Marshal(rs)
	return nil
}

// gemmaLayerTypes is llama.cpp's fixed Gemma plan: layer l slides unless
// l%pattern == pattern-1.
func gemmaLayerTypes(layers, pattern int) []string {
	t := make([]string, layers)
	for l := range t {
		t[l] = "full_attention"
		if l%pattern < pattern-1 {
			t[l] = "sliding_attention"
		}
	}
	return t
}

// gemma27B reports the layer count by which llama.cpp recognises Gemma 2
// and 3 27B, whose query scale is 1/√(hidden/heads).
func gemma27B(c *Config) bool {
	return c.ModelType == "gemma2" && c.NumHiddenLayers == 46 || c.ModelType == "gemma3_text" && c.NumHiddenLayers == 62
}

// loadGGUF opens a GGUF model. Quantized tensors are dequantized to
// float32 as they are read.
func loadGGUF(path string) (*Transformer, error) { return loadGGUFDType(path, tensor.F32, false) }

// loadGGUFDType loads a GGUF model keeping its matrices in dt: F32
// (everything dequantized) or a quantized dtype (see gguf_quant.go; auto:
// chosen by --base-dtype auto).
func loadGGUFDType(path string, dt tensor.DType, auto bool) (*Transformer, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	// Name what is missing in the file's own (GGUF) names.
	fresh, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range fresh.Params() {
		if g, ok := GGUFName(cfg.ModelType, p.Name); ok {
			if _, ok := f.Info(g); !ok {
				missing = append(missing, g)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("model: %s: %w: %s (architecture %s, %d layers)", path, ErrMissingTensor, strings.Join(missing, ", "), cfg.ModelType, cfg.NumHiddenLayers)
	}
	src := &ggufSource{f: f, cfg: cfg, names: map[string]string{}}
	for g, hf := range hfNames(cfg) {
		if _, ok := f.Info(g); ok {
			src.names[hf] = g
		}
	}
	// fresh is loaded itself: a second model's float32 arena would be
	// garbage whose reuse the runtime zeroes (touches), which doubled the
	// peak RSS of a quantized 1.2 B load.
	if dt.BlockSize() > 1 {
		return fresh.load(ggufQuantSource{src, dt, auto}, path)
	}
	return fresh.load(src, path)
}

// GGUFMetadata is the general.* and architecture metadata of m's config.
func GGUFMetadata(cfg *Config, name string) ([]gguf.KV, error) {
	arch, _, ok := ggufArch(cfg.ModelType)
	if !ok {
		return nil, fmt.Errorf("model: %w: no GGUF mapping for model_type %q", ErrUnsupportedModel, cfg.ModelType)
	}
	if err := ggufRefuse(cfg); err != nil {
		return nil, err
	}
	u := func(v int) uint32 { return uint32(v) }
	kv := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.name", Value: name},
		{Key: arch + ".context_length", Value: u(cfg.MaxPositionEmbeddings)},
		{Key: arch + ".embedding_length", Value: u(cfg.HiddenSize)},
		{Key: arch + ".feed_forward_length", Value: u(cfg.IntermediateSize)},
		{Key: arch + ".block_count", Value: u(cfg.NumHiddenLayers)},
		{Key: arch + ".attention.head_count", Value: u(cfg.NumAttentionHeads)},
	}
	if arch == "gpt2" {
		return append(kv, gguf.KV{Key: "gpt2.attention.layer_norm_epsilon", Value: float32(cfg.LayerNormEpsilon)}), nil
	}
	if arch == "phi3" {
		kv = append(kv, gguf.KV{Key: "phi3.rope.scaling.original_context_length", Value: u(cfg.rope.origMax(cfg))})
		if w := cfg.Window(0); w > 0 {
			kv = append(kv, gguf.KV{Key: "phi3.attention.sliding_window", Value: u(w)})
		}
		if cfg.rope.Type == "longrope" {
			_, att := cfg.rope.InvFreq(cfg, cfg.rope.RotaryDim(cfg.HeadDim), 1)
			kv = append(kv, gguf.KV{Key: "phi3.rope.scaling.attn_factor", Value: float32(att)})
		}
	}
	if arch == "granite" {
		kv = append(kv, gguf.KV{Key: "granite.embedding_scale", Value: float32(cfg.EmbeddingMultiplier)},
			gguf.KV{Key: "granite.residual_scale", Value: float32(cfg.ResidualMultiplier)},
			gguf.KV{Key: "granite.logit_scale", Value: float32(cfg.LogitsScaling)},
			gguf.KV{Key: "granite.attention.scale", Value: float32(cfg.AttentionMultiplier)})
	}
	if cfg.rope.Type == "linear" {
		kv = append(kv, gguf.KV{Key: arch + ".rope.scaling.type", Value: "linear"},
			gguf.KV{Key: arch + ".rope.scaling.factor", Value: float32(cfg.rope.Factor)})
	}
	if cfg.gemma() {
		kv = append(kv, gguf.KV{Key: arch + ".attention.sliding_window", Value: u(*cfg.SlidingWindow)})
		if cfg.ModelType == "gemma2" {
			kv = append(kv, gguf.KV{Key: "gemma2.attn_logit_softcapping", Value: float32(*cfg.AttnLogitSoftcapping)},
				gguf.KV{Key: "gemma2.final_logit_softcapping", Value: float32(*cfg.FinalLogitSoftcapping)})
		}
	}
	return append(kv,
		gguf.KV{Key: arch + ".attention.head_count_kv", Value: u(cfg.NumKeyValueHeads)},
		gguf.KV{Key: arch + ".attention.key_length", Value: u(cfg.HeadDim)},
		gguf.KV{Key: arch + ".attention.value_length", Value: u(cfg.HeadDim)},
		gguf.KV{Key: arch + ".rope.dimension_count", Value: u(cfg.rope.RotaryDim(cfg.HeadDim))},
		gguf.KV{Key: arch + ".rope.freq_base", Value: float32(cfg.RopeTheta)},
		gguf.KV{Key: arch + ".attention.layer_norm_rms_epsilon", Value: float32(cfg.RMSNormEps)},
	), nil
}

// ggufRefuse names the settings of cfg that the metadata written here does
// not carry, so an export never gives llama.cpp a model that computes
// something else (a window or a RoPE scaling silently dropped).
func ggufRefuse(cfg *Config) error {
	if cfg.ModelType == "gpt2" {
		return nil
	}
	unsupported := func(format string, a ...any) error {
		return fmt.Errorf("model: %w: GGUF export of "+format, append([]any{ErrUnsupportedModel}, a...)...)
	}
	if t := cfg.rope.Type; t != "" && t != "default" && t != "linear" && !(t == "longrope" && cfg.ModelType == "phi3") && ropeFreqs(cfg) == nil {
		return unsupported("rope_type %q is not implemented", t)
	}
	if rd := cfg.rope.RotaryDim(cfg.HeadDim); rd != cfg.HeadDim && cfg.ModelType != "phi3" {
		return unsupported("partial rotary embeddings (%d of %d dimensions) for %s is not implemented", rd, cfg.HeadDim, cfg.ModelType)
	}
	if cfg.gemma() {
		return gemmaRefuse(cfg, unsupported)
	}
	if cfg.ModelType == "granite" && cfg.HeadDim*cfg.NumAttentionHeads != cfg.HiddenSize {
		// llama.cpp's converter drops Granite's head_dim.
		return unsupported("granite head_dim %d ≠ hidden_size/num_attention_heads", cfg.HeadDim)
	}
	if cfg.ModelType == "smollm3" {
		// llama.cpp's smollm3 skips RoPE on every 4th layer, a constant
		// (n_no_rope_layer_step) no key can change.
		for l, v := range cfg.NoRopeLayers {
			if want := (l+1)%4 != 0; (v == 1) != want {
				return unsupported("no_rope_layers %v: llama.cpp's smollm3 skips RoPE on every 4th layer only", cfg.NoRopeLayers)
			}
		}
	}
	if cfg.ModelType == "phi3" {
		// One window for every layer: phi3.attention.sliding_window.
		for l := range cfg.NumHiddenLayers {
			if cfg.Window(l) != cfg.Window(0) {
				return unsupported("layer_types %v (phi3 has one window for all layers)", cfg.LayerTypes)
			}
		}
		return nil
	}
	for l := range cfg.NumHiddenLayers {
		if w := cfg.Window(l); w > 0 {
			return fmt.Errorf("model: %w: GGUF export of sliding_window %d (layer %d) is not implemented", ErrUnsupportedModel, w, l)
		}
	}
	return nil
}

// ropeFreqs is llama.cpp's rope_freqs tensor for a llama-architecture
// model whose RoPE divides each pair's frequency by a fixed factor: Llama
// 3's scaling, or what loading such a file gives (LongRoPE with equal
// short and long factors and attention factor 1); nil otherwise.
func ropeFreqs(cfg *Config) []float32 {
	if arch, _, _ := ggufArch(cfg.ModelType); arch != "llama" {
		return nil
	}
	r := cfg.rope
	switch {
	case r.Type == "llama3":
	case r.Type == "longrope" && slices.Equal(r.ShortFactor, r.LongFactor) && r.AttentionFactor != nil && *r.AttentionFactor == 1:
	default:
		return nil
	}
	rd := r.RotaryDim(cfg.HeadDim)
	inv, _ := r.InvFreq(cfg, rd, 1)
	f := make([]float32, len(inv))
	for j := range f {
		f[j] = float32(math.Pow(r.Theta, -2*float64(j)/float64(rd)) / inv[j])
	}
	return f
}

// gemmaRefuse checks that llama.cpp's gemma2/gemma3 graph, whose layer
// plan, local RoPE, query scale and activation are fixed (see
// gemmaFromGGUF), computes cfg's model.
func gemmaRefuse(cfg *Config, unsupported func(string, ...any) error) error {
	pattern, arch := 2, "gemma2"
	if cfg.ModelType == "gemma3_text" {
		pattern, arch = 6, "gemma3"
	}
	want := gemmaLayerTypes(cfg.NumHiddenLayers, pattern)
	for l, t := range cfg.LayerTypes {
		if t != want[l] {
			return unsupported("layer_types %v: llama.cpp's %s slides on every layer but each %dth, layer %d is %s", cfg.LayerTypes, arch, pattern, l, t)
		}
	}
	if cfg.SlidingWindow == nil || *cfg.SlidingWindow <= 0 {
		return unsupported("%s without a sliding_window", arch)
	}
	if r := cfg.ropeLocal; arch == "gemma2" && r != nil {
		return unsupported("gemma2 with a sliding-attention RoPE of its own")
	}
	if local := cfg.ropeLocal; arch == "gemma3" {
		if local == nil {
			local = &cfg.rope
		}
		if local.Type != "default" || local.Theta != 10000 {
			return unsupported("sliding-attention RoPE %s θ=%g (llama.cpp's gemma3 uses default RoPE with base 10000 there)", local.Type, local.Theta)
		}
	}
	q := float64(cfg.HeadDim)
	if gemma27B(cfg) {
		q = float64(cfg.HiddenSize / cfg.NumAttentionHeads)
	}
	if cfg.QueryPreAttnScalar != q {
		return unsupported("query_pre_attn_scalar %g (llama.cpp's %s scales queries by 1/√%g for %d layers)", cfg.QueryPreAttnScalar, arch, q, cfg.NumHiddenLayers)
	}
	if cfg.HiddenAct != "gelu_pytorch_tanh" {
		return unsupported("hidden_activation %q (llama.cpp's %s uses GELU-tanh)", cfg.HiddenAct, arch)
	}
	capped := cfg.AttnLogitSoftcapping != nil && cfg.FinalLogitSoftcapping != nil
	if arch == "gemma2" && !capped {
		return unsupported("gemma2 without both soft-caps (llama.cpp's gemma2 always applies them)")
	}
	if arch == "gemma3" && (cfg.AttnLogitSoftcapping != nil || cfg.FinalLogitSoftcapping != nil) {
		return unsupported("gemma3 with logit soft-capping (llama.cpp's gemma3 has none)")
	}
	return nil
}

// fileTypes is general.file_type for a whole-model type (llama.cpp's
// LLAMA_FTYPE values; Q4_K is written as Q4_K_M's id, its closest).
var fileTypes = map[gguf.Type]uint32{gguf.F32: 0, gguf.F16: 1, gguf.Q4_0: 2, gguf.Q8_0: 7, gguf.Q4_K: 15, gguf.BF16: 32}

// SaveGGUF writes m as a GGUF model llama.cpp loads: its weights in typ
// (matrices whose row length the block does not divide, 1-D tensors and
// norms fall back to F32, as llama.cpp's quantizer keeps them), the config
// as metadata plus extra (the tokenizer's keys).
func SaveGGUF(m Model, path, name string, typ gguf.Type, extra []gguf.KV) error {
	if !gguf.Quantizable(typ) {
		return fmt.Errorf("model: cannot write GGUF type %s (expected f32, f16, bf16, q8_0, q4_0 or q4_k)", typ)
	}
	cfg := m.Config()
	kv, err := GGUFMetadata(cfg, name)
	if err != nil {
		return err
	}
	tr, ok := m.(*Transformer)
	if !ok {
		return fmt.Errorf("model: SaveGGUF needs a *Transformer, got %T", m)
	}
	kv = append(kv, gguf.KV{Key: "general.file_type", Value: fileTypes[typ]})
	if typ.Quantized() {
		kv = append(kv, gguf.KV{Key: "general.quantization_version", Value: uint32(2)})
	}
	kv = append(kv, extra...)
	sd := tr.StateDict(nil)
	var ts []gguf.WriteTensor
	if f := ropeFreqs(cfg); f != nil {
		ts = append(ts, gguf.WriteTensor{Name: "rope_freqs.weight", Type: gguf.F32, Shape: []int{len(f)}, Data: func() ([]byte, error) { return gguf.Quantize(f, gguf.F32) }})
	}
	if r := cfg.rope; r.Type == "longrope" && cfg.ModelType == "phi3" {
		for _, f := range []struct {
			name string
			v    []float64
		}{{"rope_factors_long.weight", r.LongFactor}, {"rope_factors_short.weight", r.ShortFactor}} {
			v := make([]float32, len(f.v))
			for i, x := range f.v {
				v[i] = float32(x)
			}
			ts = append(ts, gguf.WriteTensor{Name: f.name, Type: gguf.F32, Shape: []int{len(v)}, Data: func() ([]byte, error) { return gguf.Quantize(v, gguf.F32) }})
		}
	}
	// Tensor order: the model's own parameter order.
	for _, p := range m.Params() {
		hf := p.Name
		t, ok := sd[hf]
		if !ok {
			continue
		}
		g, ok := GGUFName(cfg.ModelType, hf)
		if !ok {
			return fmt.Errorf("model: no GGUF name for tensor %s of model_type %s", hf, cfg.ModelType)
		}
		t = convertLayout(cfg, hf, t, true)
		tt := typ
		switch rows := t.Shape[len(t.Shape)-1]; {
		case len(t.Shape) < 2 || strings.Contains(g, "_norm"):
			tt = gguf.F32
		case rows%typ.BlockSize() != 0 && rows%gguf.Q8_0.BlockSize() == 0:
			tt = gguf.Q8_0 // llama.cpp's quantizer also falls back to a 32-block type
		case rows%typ.BlockSize() != 0:
			tt = gguf.F32
		}
		ts = append(ts, gguf.WriteTensor{Name: g, Type: tt, Shape: t.Shape, Data: func() ([]byte, error) { return gguf.Quantize(t.Data, tt) }})
	}
	return gguf.Write(path, kv, ts)
}
