package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model"
	"github.com/golora/golora/train"
)

type benchTrainFlags struct {
	model, arch                    string
	layers, hidden, heads, kvHeads int
	vocab, intermediate            int
	method, targets                string
	r, batch, seqLen, steps        int
	warmup, threads                int
	alpha                          float64
	checkpointing                  bool
}

func init() {
	f := &benchTrainFlags{}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Time training steps on random tokens; prints one JSON line",
		Long: `Time full training steps (forward, backward, clipping, AdamW) on random
tokens, after untimed warm-up steps, and print one JSON line: tokens_per_s,
peak_rss_mib, threads, model_flops_per_token (forward FLOPs per token: 2 per
linear weight plus 4·L·T·d for attention), train_flops_per_token (2x forward for
frozen-base methods, 3x for full) and the resulting gflops.

The model is --model, or a random-weight model of the shape given by --arch
and the size flags (defaults: the GPT-2 124M shape for gpt2; for llama a
12-layer 768-wide shape with 4 KV heads and a 32000 vocabulary).`,
		Example: `  golora bench train --arch gpt2 --batch 4 --seq-len 256 --method lora --r 8 --targets q,v --steps 5`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runBenchTrain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model to load (default: a random model of --arch's shape)")
	fl.StringVar(&f.arch, "arch", "gpt2", "random model family: gpt2 or llama")
	fl.IntVar(&f.layers, "layers", 12, "layers")
	fl.IntVar(&f.hidden, "hidden", 768, "hidden size")
	fl.IntVar(&f.heads, "heads", 12, "attention heads")
	fl.IntVar(&f.kvHeads, "kv-heads", 0, "key/value heads (llama; default: 4 when --heads is 12, else --heads)")
	fl.IntVar(&f.vocab, "vocab", 0, "vocabulary (default 50257 for gpt2, 32000 for llama)")
	fl.IntVar(&f.intermediate, "intermediate", 0, "MLP width (default 4x hidden for gpt2, 8/3x rounded to 64 for llama)")
	fl.StringVar(&f.method, "method", "lora", "lora|dora|adapter|lora+adapter|full")
	fl.StringVar(&f.targets, "targets", "q,v", "LoRA target modules")
	fl.IntVar(&f.r, "r", 8, "LoRA rank")
	fl.Float64Var(&f.alpha, "alpha", 16, "LoRA alpha")
	fl.IntVar(&f.batch, "batch", 4, "sequences per step")
	fl.IntVar(&f.seqLen, "seq-len", 256, "tokens per sequence")
	fl.IntVar(&f.steps, "steps", 5, "timed steps")
	fl.IntVar(&f.warmup, "warmup-steps", 1, "untimed steps before timing")
	fl.IntVar(&f.threads, "threads", 0, "compute threads (default GOLORA_THREADS or all cores)")
	fl.BoolVar(&f.checkpointing, "checkpointing", false, "recompute block activations in backward (less memory)")
	benchCmd.AddCommand(cmd)
}

type benchTrainResult struct {
	Model              string  `json:"model"`
	Method             string  `json:"method"`
	R                  int     `json:"r"`
	Targets            string  `json:"targets"`
	Batch              int     `json:"batch"`
	SeqLen             int     `json:"seq_len"`
	Steps              int     `json:"steps"`
	Threads            int     `json:"threads"`
	TokensPerS         float64 `json:"tokens_per_s"`
	StepMS             float64 `json:"step_ms"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	ModelFLOPsPerToken float64 `json:"model_flops_per_token"`
	TrainFLOPsPerToken float64 `json:"train_flops_per_token"`
	GFLOPs             float64 `json:"gflops"`
	TrainableParams    int     `json:"trainable_params"`
}

func runBenchTrain(cmd *cobra.Command, f *benchTrainFlags) error {
	if f.threads > 0 {
		kernels.SetThreads(f.threads)
	}
	var m model.Model
	var err error
	name := f.model
	if f.model != "" {
		m, err = model.Load(f.model)
	} else {
		mc, cerr := benchModelConfig(f)
		if cerr != nil {
			return cerr
		}
		m, err = model.NewRandom(mc, 1)
		name = fmt.Sprintf("random %s L%d C%d H%d/%d I%d V%d", mc.ModelType, mc.NumHiddenLayers, mc.HiddenSize, mc.NumAttentionHeads, mc.NumKeyValueHeads, mc.IntermediateSize, mc.VocabSize)
	}
	if err != nil {
		return err
	}
	m.SetCheckpointing(f.checkpointing)
	cfg := train.DefaultConfig()
	cfg.Method, cfg.R, cfg.Alpha = f.method, f.r, f.alpha
	cfg.Targets = strings.Split(f.targets, ",")
	cfg.Batch, cfg.SeqLen, cfg.Steps = f.batch, f.seqLen, f.steps
	if err := cfg.Validate(); err != nil {
		return err
	}
	task, err := train.NewModelTask(m, cfg)
	if err != nil {
		return err
	}
	res, err := train.Bench(cfg, task, train.RandomBatches(f.batch, f.seqLen, m.Config().VocabSize, 1), f.warmup, f.steps)
	if err != nil {
		return err
	}
	fwd := train.ForwardFLOPsPerToken(m, f.seqLen)
	trainFLOPs := fwd * train.TrainFLOPsMultiplier(f.method)
	trainable := 0
	for _, p := range task.Params() {
		trainable += p.W.Len()
	}
	out := benchTrainResult{
		Model: name, Method: f.method, R: f.r, Targets: f.targets, Batch: f.batch, SeqLen: f.seqLen,
		Steps: f.steps, Threads: kernels.Threads(), TokensPerS: res.TokensPerS,
		StepMS:     1000 * res.Seconds / float64(max(res.Steps, 1)),
		PeakRSSMiB: float64(train.PeakRSS()) / (1 << 20), ModelFLOPsPerToken: fwd, TrainFLOPsPerToken: trainFLOPs,
		GFLOPs: res.TokensPerS * trainFLOPs / 1e9, TrainableParams: trainable,
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), string(b))
	return nil
}

// benchModelConfig is the random model's config.json from the shape flags.
func benchModelConfig(f *benchTrainFlags) (*model.Config, error) {
	c := &model.Config{ModelType: f.arch, NumHiddenLayers: f.layers, HiddenSize: f.hidden, NumAttentionHeads: f.heads,
		NumKeyValueHeads: f.kvHeads, VocabSize: f.vocab, IntermediateSize: f.intermediate}
	switch f.arch {
	case "gpt2":
		if c.VocabSize == 0 {
			c.VocabSize = 50257
		}
		c.MaxPositionEmbeddings = max(1024, f.seqLen)
		if f.kvHeads != 0 && f.kvHeads != f.heads {
			return nil, fmt.Errorf("bench train: gpt2 has no grouped-query attention (--kv-heads must equal --heads)")
		}
		c.NumKeyValueHeads = 0
		if f.intermediate > 0 {
			n := f.intermediate
			c.NInner = &n
		}
	case "llama":
		if c.VocabSize == 0 {
			c.VocabSize = 32000
		}
		if c.NumKeyValueHeads == 0 {
			c.NumKeyValueHeads = f.heads
			if f.heads == 12 {
				c.NumKeyValueHeads = 4
			}
		}
		if c.IntermediateSize == 0 {
			c.IntermediateSize = (f.hidden*8/3 + 63) / 64 * 64
		}
		c.MaxPositionEmbeddings = max(2048, f.seqLen)
		c.HiddenAct = "silu"
	default:
		return nil, fmt.Errorf("bench train: --arch %q: want gpt2 or llama", f.arch)
	}
	return c, nil
}
