// Package model loads transformer language models and exposes the one
// interface the rest of golora (lora, train, generate, serve) uses: a
// training forward/backward over (B, T) batches, named parameters and
// linears for LoRA targeting, sublayer hooks for adapters, and a KV-cache
// decode step.
//
// Each family registers itself from its own file: family_llama.go (the
// RoPE decoders: llama, mistral, qwen2/3, gemma2/3, phi3, olmo2, smollm3,
// granite) and family_gpt2.go; all build the same pre-norm decoder block
// (transformer.go) with different variants and weight names. Weights are
// float32 in memory whatever the file's dtype (unless Options.BaseDType
// keeps the frozen matrices 16-bit); nn.Linear weights are [out, in]
// (GPT-2 Conv1D weights are transposed on load and back on save).
package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Model is a loaded causal language model. Batches are B rows of T tokens,
// row-major; activation row n = b*T + t. A Model is not safe for concurrent
// use: it owns its activation buffers.
type Model interface {
	// Config is the model's configuration (read-only).
	Config() *Config

	// Forward returns logits (B*T, V) for ids (B*T) with causal attention,
	// keeping activations for BackwardLogits. The slice is reused.
	Forward(ids []int, B, T int) []float32
	// Loss runs Forward and returns the mean cross-entropy against targets
	// (B*T, IgnoreIndex skips), leaving dloss/dlogits for Backward.
	Loss(ids, targets []int, B, T int) float64
	// Backward accumulates gradients of the last Loss into trainable
	// weights, nn.Deltas and hooks.
	Backward()
	// BackwardLogits backpropagates a caller's dloss/dlogits (B*T, V).
	BackwardLogits(dlogits []float32)
	// HiddenStates are HF's output_hidden_states of the last Forward.
	HiddenStates() [][]float32
	// SetCheckpointing recomputes each block in backward instead of
	// keeping its activations.
	SetCheckpointing(on bool)

	// Params lists every weight once, in checkpoint order.
	Params() []Param
	// SetTrainable gives matching weights gradients and freezes the rest.
	SetTrainable(match func(name string) bool)
	// ZeroGrad zeroes all gradients.
	ZeroGrad()
	// Linears lists the linear layers by PEFT module name, head last.
	Linears() []NamedLinear
	// Embedding is the token embedding with its nn.EmbeddingDelta hook.
	Embedding() NamedEmbedding
	// Untie gives a tied output head its own copy of the embedding.
	Untie()
	// SetSublayerHook sets layer l's "attn" or "mlp" output hook.
	SetSublayerHook(l int, which string, h nn.SublayerHook) error

	// NewCache allocates a KV cache of batch rows × capacity tokens.
	NewCache(batch, capacity int) *Cache
	// Step appends rows[b] to cache row b and returns the last new
	// token's logits for each row that got tokens (active rows, V).
	Step(c *Cache, rows [][]int) ([]float32, error)
	// StepAll is Step returning every new token's logits.
	StepAll(c *Cache, rows [][]int) ([]float32, error)

	// SaveHF writes config.json and model.safetensors (F32) in the
	// family's own layout and names.
	SaveHF(dir string) error
}

var _ Model = (*Transformer)(nil)

// Load opens a model:
//   - "" : the embedded default (stories260K, llama2.c);
//   - a folder with config.json and model.safetensors (or a sharded
//     model.safetensors.index.json): a Hugging Face checkpoint, any of
//     F32, F16 and BF16;
//   - a .safetensors or index .json file inside such a folder;
//   - a llama2.c .bin checkpoint;
//   - a .gguf file (llama, qwen2/3, gemma2/3, phi3, olmo2, granite, smollm3, gpt2;
//     see gguf.go), dequantized to F32
//     before the base dtype applies (q8_0/q4_k keep its Q8_0/Q4_K tensors
//     as stored, see gguf_quant.go);
//   - a Hugging Face hub id ("Qwen/Qwen3-0.6B") found in the local cache
//     (see Resolve; nothing is downloaded).
func Load(path string) (Model, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options (the base's dtype, see basedtype.go).
func LoadWith(path string, o Options) (Model, error) {
	path, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	dt, err := o.baseDType(path)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return inMemoryDType(fromLlama2C(embedded.Model, "embedded "+embedded.Name))(dt)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	dir := path
	if !st.IsDir() && !st.Mode().IsRegular() { // a named pipe would block reading
		return nil, fmt.Errorf("model: %s is not a regular file or folder (%v)", path, st.Mode().Type())
	}
	if !st.IsDir() {
		switch {
		case strings.HasSuffix(path, ".gguf") && dt.BlockSize() > 1:
			return loadGGUFQuant(path, dt, o.BaseDType == "auto")
		case strings.HasSuffix(path, ".gguf"):
			return inMemoryDType(loadGGUF(path))(dt)
		case strings.HasSuffix(path, ".safetensors"), strings.HasSuffix(path, ".json"):
			dir = filepath.Dir(path)
		case filepath.Base(path) == "pytorch_model.bin":
			return nil, fmt.Errorf("model: %s: PyTorch pickle checkpoints are not supported; convert to safetensors", path)
		default:
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("model: %w", err)
			}
			return inMemoryDType(fromLlama2C(data, path))(dt)
		}
	}
	cfgPath := filepath.Join(dir, "config.json")
	if cst, err := os.Stat(cfgPath); err != nil {
		return nil, fmt.Errorf("model: %s has no config.json (expected a Hugging Face model folder or a llama2.c .bin file)", dir)
	} else if !cst.Mode().IsRegular() {
		return nil, fmt.Errorf("model: %s is not a regular file (%v)", cfgPath, cst.Mode().Type())
	}
	cfg, err := ReadConfig(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	weights := dir
	if !st.IsDir() && filepath.Base(path) != "config.json" {
		weights = path // a particular .safetensors file or shard index
	}
	src, err := safetensors.OpenDir(weights)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := checkFits(cfg, src, weights); err != nil {
		src.Close()
		return nil, err
	}
	if dt == tensor.F32 {
		defer src.Close()
		return loadModel(cfg, src, weights)
	}
	if dt.BlockSize() > 1 {
		defer src.Close()
		return loadModel(cfg, quantSource{src, dt}, weights)
	}
	return loadHalf(cfg, src, weights, dt)
}

// TargetAliases maps the short target names (q, k, v, o, gate, up, down)
// to the module-name suffixes of cfg's family; anything else is a PEFT
// module name or suffix already (nil for a config no family builds).
func TargetAliases(cfg *Config) map[string]string {
	f, a, err := archOf(cfg)
	if err != nil {
		return nil
	}
	return f.targets(a)
}

// NewRandom builds a model of cfg's shape with HF-style random weights
// (normal(0, 0.02) matrices, unit norms, zero biases) from seed, for
// benchmarks and tests. cfg is normalised (family defaults applied).
func NewRandom(cfg *Config, seed uint64) (Model, error) {
	return NewRandomDType(cfg, seed, tensor.F32)
}
