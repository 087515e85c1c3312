// Package trainconfig binds a train.Config to command-line flags (pflag)
// and YAML files: the settings layer of golora train and pretrain. It is a
// package of its own so that a program embedding the train engine links
// neither pflag nor a YAML library.
//
// Precedence is flag > YAML (--config) > base (the defaults, or the config
// of the checkpoint being resumed). YAML keys are the flag names; the key
// names of mlx-lm's LoRA configs are accepted as aliases (see Aliases), so
// a config written for mlx_lm.lora mostly works as it is.
package trainconfig

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/golora/golora/model"
	"github.com/golora/golora/train"
)

// RegisterFlags defines one flag per setting on fs, bound to c's fields,
// with c's current values as the defaults shown in --help.
func RegisterFlags(fs *pflag.FlagSet, c *train.Config) {
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML file of settings (keys are flag names; mlx-lm's names work too); flags given on the command line win")
	fs.StringVar(&c.Model, "model", c.Model, "model directory or file (default: the embedded model)")
	fs.StringVar(&c.Tokenizer, "tokenizer", c.Tokenizer, "tokenizer file or folder (default: the one beside --model); none is needed for pre-tokenized input_ids data")
	fs.StringVar(&c.Data, "data", c.Data, "training data, JSONL (default: the embedded demo set)")
	fs.StringVar(&c.Valid, "valid", c.Valid, "validation data, JSONL (default: the demo's held-out split when --data is not given)")
	fs.Float64Var(&c.ValidFraction, "valid-fraction", c.ValidFraction, "hold out this share of --data (chosen with --seed) for validation when --valid is not given")
	fs.BoolVar(&c.TrainOnAll, "train-on-all", c.TrainOnAll, "loss on every token, prompts and user turns included (default: completions and assistant turns only)")
	fs.BoolVar(&c.Pack, "pack", c.Pack, "pack several short examples into each --seq-len row")
	fs.BoolVar(&c.SkipBad, "skip-bad", c.SkipBad, "skip malformed JSONL lines (reported with a count) instead of failing on the first")
	fs.StringVar(&c.Out, "out", c.Out, "output directory: adapter, checkpoints, metrics.jsonl, loss.png")
	fs.StringVar(&c.Method, "method", c.Method, "what to train: "+strings.Join(train.Methods, "|"))
	fs.StringVar(&c.BaseDType, "base-dtype", c.BaseDType, model.BaseDTypeUsage)
	fs.IntVar(&c.R, "r", c.R, "LoRA rank (bottleneck width for --method adapter)")
	fs.Float64Var(&c.Alpha, "alpha", c.Alpha, "LoRA alpha (scaling = alpha/r, or alpha/sqrt(r) with --rslora)")
	fs.Float64Var(&c.Dropout, "dropout", c.Dropout, "LoRA dropout probability")
	fs.Var((*csvValue)(&c.SaveModules), "save-modules", "layers to train in full and save with the adapter (PEFT's modules_to_save), comma separated: lm_head, embed_tokens")
	fs.Var((*intsValue)(&c.TrainableTokens), "trainable-tokens", "token ids whose embedding rows are trained in full, e.g. new special tokens (PEFT's trainable_token_indices)")
	fs.BoolVar(&c.LoraBias, "lora-bias", c.LoraBias, "train a bias on lora_B (PEFT's lora_bias; merging needs a base bias)")
	fs.IntVar(&c.NumLayers, "num-layers", c.NumLayers, "adapt the last N transformer blocks only (0 = all), as mlx-lm; saved as PEFT's layers_to_transform")
	fs.BoolVar(&c.Checkpointing, "checkpointing", c.Checkpointing, "gradient checkpointing: keep only block inputs and recompute each block in backward (less memory, ~1/3 more compute)")
	fs.Var((*csvValue)(&c.Targets), "targets", "modules to adapt, comma separated (e.g. q,v or q,k,v,o,gate,up,down or all)")
	fs.StringVar(&c.Init, "init", c.Init, "LoRA initialisation: default (PEFT's kaiming-uniform A, zero B), gaussian, pissa, olora, init_b")
	fs.BoolVar(&c.RSLoRA, "rslora", c.RSLoRA, "rank-stabilised scaling alpha/sqrt(r)")
	fs.StringVar(&c.InitAdapter, "init-adapter", c.InitAdapter, "start from this PEFT adapter folder (LoRA, rsLoRA, DoRA); its config sets --method, --r, --alpha, --dropout, --targets, --rslora; optimizer state starts fresh")
	fs.Float64Var(&c.LR, "lr", c.LR, "peak learning rate")
	fs.Float64Var(&c.LoRAPlusRatio, "loraplus-ratio", c.LoRAPlusRatio, "LoRA+: learning rate of lora_B = ratio x lr (1 = plain LoRA)")
	fs.Float64Var(&c.WeightDecay, "weight-decay", c.WeightDecay, "AdamW decoupled weight decay (never applied to norms and biases)")
	fs.Float64Var(&c.Beta1, "adam-beta1", c.Beta1, "AdamW beta1")
	fs.Float64Var(&c.Beta2, "adam-beta2", c.Beta2, "AdamW beta2")
	fs.Float64Var(&c.Eps, "adam-eps", c.Eps, "AdamW epsilon")
	fs.IntVar(&c.Batch, "batch", c.Batch, "sequences per micro-batch")
	fs.IntVar(&c.SeqLen, "seq-len", c.SeqLen, "tokens per sequence")
	fs.IntVar(&c.Steps, "steps", c.Steps, "optimizer steps (ignored when --epochs is given)")
	fs.Float64Var(&c.Epochs, "epochs", c.Epochs, "passes over the training data (overrides --steps when > 0)")
	fs.IntVar(&c.GradAccum, "grad-accum", c.GradAccum, "micro-batches accumulated per optimizer step")
	fs.StringVar(&c.DataOrder, "data-order", c.DataOrder, "training batch order: shuffle (new permutation every epoch, from --seed) or file (file order every epoch, no shuffling)")
	fs.IntVar(&c.Warmup, "warmup", c.Warmup, "linear warmup steps")
	fs.StringVar(&c.Schedule, "schedule", c.Schedule, "learning-rate schedule after warmup: "+strings.Join(train.Schedules, "|"))
	fs.Float64Var(&c.MaxGradNorm, "max-grad-norm", c.MaxGradNorm, "clip the global gradient norm to this (0 = off)")
	fs.IntVar(&c.EvalEvery, "eval-every", c.EvalEvery, "evaluate on the validation set every N steps (0 = only at the end)")
	fs.IntVar(&c.EvalBatches, "eval-batches", c.EvalBatches, "validation batches per evaluation (0 = all)")
	fs.IntVar(&c.SaveEvery, "save-every", c.SaveEvery, "write a checkpoint every N steps (0 = only at the end)")
	fs.IntVar(&c.KeepCkpts, "keep-checkpoints", c.KeepCkpts, "checkpoints kept under --out/checkpoints")
	fs.IntVar(&c.LogEvery, "log-every", c.LogEvery, "log line every N steps when not on a terminal (0 = about 50 per run)")
	fs.BoolVar(&c.Resume, "resume", c.Resume, "continue from the latest checkpoint in --out")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "random seed (initialisation, data order, dropout)")
	fs.IntVar(&c.Threads, "threads", c.Threads, "compute threads (0 = GOMAXPROCS or GOLORA_THREADS)")
	fs.BoolVar(&c.Overwrite, "overwrite", c.Overwrite, "replace the run already in --out (its checkpoints and adapter) instead of refusing")
	fs.BoolVar(&c.KeepBest, "keep-best", c.KeepBest, "save the weights of the best validation loss as the result, not the last step's (needs validation data)")
	fs.Float64Var(&c.DivergenceThreshold, "divergence-threshold", c.DivergenceThreshold, "stop when the loss stays above this factor x the starting loss (or above ln(vocab)), or the gradient norm explodes, for --divergence-steps steps (0 = off)")
	fs.IntVar(&c.DivergenceSteps, "divergence-steps", c.DivergenceSteps, "consecutive bad steps before --divergence-threshold stops the run")
}

// RegisterShapeFlags defines the flags of a model built from scratch
// (golora pretrain, golora bench train) on fs.
func RegisterShapeFlags(fs *pflag.FlagSet, s *train.ModelShape) {
	fs.StringVar(&s.Arch, "arch", s.Arch, "model family: llama or gpt2")
	fs.IntVar(&s.Layers, "layers", s.Layers, "transformer blocks")
	fs.IntVar(&s.Hidden, "hidden", s.Hidden, "hidden size")
	fs.IntVar(&s.Heads, "heads", s.Heads, "attention heads")
	fs.IntVar(&s.KVHeads, "kv-heads", s.KVHeads, "key/value heads, llama only (0: 4 when --heads is 12, else --heads)")
	fs.IntVar(&s.Intermediate, "intermediate", s.Intermediate, "MLP width (0: 4x hidden for gpt2, 8/3x rounded up to 64 for llama)")
	fs.IntVar(&s.Vocab, "vocab", s.Vocab, "vocabulary size (0: the tokenizer's, else 50257 for gpt2 and 32000 for llama)")
}

// csvValue is a comma-separated list flag whose Set always replaces the
// list (pflag's StringSlice appends on a second Set, which would break
// re-applying flags over a YAML file).
type csvValue []string

func (v *csvValue) String() string { return strings.Join(*v, ",") }
func (v *csvValue) Type() string   { return "list" }
func (v *csvValue) Set(s string) error {
	*v = splitList(s)
	return nil
}

// splitList splits "q, v" into [q v].
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// intsValue is csvValue for token ids.
type intsValue []int

func (v *intsValue) String() string {
	s := make([]string, len(*v))
	for i, x := range *v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
func (v *intsValue) Type() string { return "ids" }
func (v *intsValue) Set(s string) error {
	var out []int
	for _, p := range splitList(s) {
		x, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("%q is not a token id", p)
		}
		out = append(out, x)
	}
	*v = out
	return nil
}

// Resolve applies the precedence flag > YAML > base to c, whose fields are
// bound to fs by RegisterFlags and already hold the parsed flag values.
// base is what the settings start from: train.DefaultConfig(), or the
// config of the checkpoint being resumed. Only flags the user set (pflag's
// Changed) override the YAML file.
func Resolve(c *train.Config, fs *pflag.FlagSet, base train.Config) error {
	type setFlag struct{ name, value string }
	var set []setFlag
	fs.Visit(func(f *pflag.Flag) { set = append(set, setFlag{f.Name, f.Value.String()}) })
	configFile := c.ConfigFile
	*c = base
	c.Targets = append([]string(nil), base.Targets...)
	c.SaveModules = append([]string(nil), base.SaveModules...)
	c.TrainableTokens = append([]int(nil), base.TrainableTokens...)
	c.ConfigFile = configFile
	c.Explicit = map[string]bool{}
	if configFile != "" {
		if err := LoadYAML(c, configFile); err != nil {
			return err
		}
	}
	for _, f := range set {
		if err := fs.Set(f.name, f.value); err != nil {
			return fmt.Errorf("--%s %s: %w", f.name, f.value, err)
		}
		c.Explicit[f.name] = true
	}
	if c.InitAdapter == "" {
		c.Explicit = nil // only --init-adapter reads it; keep configs comparable
	}
	return nil
}

// ResolveResume is Resolve for a command with --resume: when the resolved
// settings ask to resume and --out holds a checkpoint, they start again from
// the checkpoint's config, so that only what is given again on the command
// line (or in --config) changes. Without a checkpoint the run starts afresh.
func ResolveResume(c *train.Config, fs *pflag.FlagSet, base train.Config) error {
	if err := Resolve(c, fs, base); err != nil {
		return err
	}
	if !c.Resume {
		return nil
	}
	ck, err := train.ReadCheckpointConfig(c.Out)
	if errors.Is(err, train.ErrNoCheckpoint) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := Resolve(c, fs, ck); err != nil {
		return err
	}
	c.Resume = true
	return nil
}
