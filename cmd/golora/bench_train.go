package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/golora/golora/internal/cputime"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/train"
	"github.com/golora/golora/train/trainconfig"
)

type benchTrainFlags struct {
	model                   string
	shape                   train.ModelShape
	method, targets         string
	r, batch, seqLen, steps int
	warmup, threads         int
	alpha                   float64
	checkpointing, vsNone   bool
	numLayers               int
	cpuProfile              string
	breakdown               bool
	baseDType               string
}

func init() {
	f := &benchTrainFlags{shape: train.ModelShape{Arch: "gpt2", Layers: 12, Hidden: 768, Heads: 12}}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Time training steps on random tokens; prints one JSON line",
		Long: `Time full training steps (forward, backward, clipping, AdamW) on random
tokens, after untimed warm-up steps, and print one JSON line: tokens_per_s,
peak_rss_mib, threads, model_flops_per_token (forward FLOPs per token: 2 per
linear weight plus 4·L·T·d for attention), train_flops_per_token (2x forward for
frozen-base methods, 3x for full) and the resulting gflops.

--method none times the frozen base with no adapter (forward, and backward
through every block's activations down to the embeddings, as a LoRA step on
the first layer needs): the baseline bench/lora_overhead.sh divides by.

The model is --model, or a random-weight model of the shape given by --arch
and the size flags (defaults: the GPT-2 124M shape for gpt2; for llama a
12-layer 768-wide shape with 4 KV heads and a 32000 vocabulary).`,
		Example: `  golora bench train --arch gpt2 --batch 4 --seq-len 256 --method lora --r 8 --targets q,v --steps 5`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runBenchTrain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model to load (default: a random model of --arch's shape)")
	trainconfig.RegisterShapeFlags(fl, &f.shape)
	fl.StringVar(&f.method, "method", "lora", "lora|dora|adapter|lora+adapter|full, or none (the frozen base: forward and backward through the activations, nothing trained)")
	fl.StringVar(&f.targets, "targets", "q,v", "LoRA target modules")
	fl.IntVar(&f.r, "r", 8, "LoRA rank")
	fl.Float64Var(&f.alpha, "alpha", 16, "LoRA alpha")
	fl.IntVar(&f.batch, "batch", 4, "sequences per step")
	fl.IntVar(&f.seqLen, "seq-len", 256, "tokens per sequence")
	fl.IntVar(&f.steps, "steps", 5, "timed steps")
	fl.IntVar(&f.warmup, "warmup-steps", 1, "untimed steps before timing")
	fl.IntVar(&f.threads, "threads", 0, "compute threads (default GOLORA_THREADS or all cores)")
	fl.BoolVar(&f.vsNone, "vs-none", false, "also alternate --steps steps with the adapters on and off (the frozen base) in this process and report their median ratio (vs_none)")
	fl.BoolVar(&f.checkpointing, "checkpointing", false, "recompute block activations in backward (less memory)")
	fl.IntVar(&f.numLayers, "num-layers", 0, "adapt the last N blocks only (0 = all), as golora train --num-layers")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed steps to this file (go tool pprof)")
	fl.BoolVar(&f.breakdown, "breakdown", false, "add where each timed step's wall time went (breakdown: parallel regions, serial rest, waits, each GEMM shape)")
	addBaseDTypeFlag(fl, &f.baseDType)
	benchCmd.AddCommand(cmd)
}

type benchTrainResult struct {
	Model      string  `json:"model"`
	BaseDType  string  `json:"base_dtype"`
	BaseKernel string  `json:"base_kernel"` // GEMM kernel of a 16-bit base
	Method     string  `json:"method"`
	R          int     `json:"r"`
	Targets    string  `json:"targets"`
	Batch      int     `json:"batch"`
	SeqLen     int     `json:"seq_len"`
	Steps      int     `json:"steps"`
	Threads    int     `json:"threads"`
	TokensPerS float64 `json:"tokens_per_s"`
	StepMS     float64 `json:"step_ms"`
	// CPUStepMS is the process's CPU time per timed step (all threads,
	// spinning included): on a shared machine it moves less than StepMS.
	CPUStepMS          float64 `json:"cpu_step_ms"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	ModelFLOPsPerToken float64 `json:"model_flops_per_token"`
	TrainFLOPsPerToken float64 `json:"train_flops_per_token"`
	GFLOPs             float64 `json:"gflops"`
	TrainableParams    int     `json:"trainable_params"`
	// VsNone is --vs-none's paired comparison with the frozen base.
	VsNone *pairedSteps `json:"vs_none,omitempty"`
	// Breakdown is --breakdown's per-step account.
	Breakdown *train.Breakdown `json:"breakdown,omitempty"`
}

// pairedSteps times steps of a method against steps of the frozen base
// (the adapters disabled) in one process, alternating step by step, so
// both see the same machine load; Ratio is the median of the per-pair
// step-time ratios (method / frozen).
type pairedSteps struct {
	Pairs        int     `json:"pairs"`
	MethodStepMS float64 `json:"method_step_ms"`
	NoneStepMS   float64 `json:"none_step_ms"`
	Ratio        float64 `json:"ratio"`
	RatioMin     float64 `json:"ratio_min"`
	RatioMax     float64 `json:"ratio_max"`
}

// stepsVsNone alternates a step of task (its adapters on) with a step of
// the same model with the adapters disabled, which then runs the frozen
// base's forward and full backward and trains nothing (train.MethodNone).
func stepsVsNone(cfg train.Config, task *train.ModelTask, batches train.Batches, pairs int) (*pairedSteps, error) {
	if task.LoRA == nil {
		return nil, fmt.Errorf("bench train: --vs-none needs a frozen-base method (lora, dora, adapter, lora+adapter), not %s", cfg.Method)
	}
	noneCfg := cfg
	noneCfg.Method = train.MethodNone
	none, err := train.NewModelTask(task.Model, noneCfg)
	if err != nil {
		return nil, err
	}
	defer task.LoRA.Enable()
	var on, off, ratios []float64
	for i := 0; i < pairs; i++ {
		task.LoRA.Enable()
		a, err := train.Bench(cfg, task, batches, 0, 1)
		if err != nil {
			return nil, err
		}
		task.LoRA.Disable()
		b, err := train.Bench(noneCfg, none, batches, 0, 1)
		if err != nil {
			return nil, err
		}
		on, off = append(on, a.Seconds), append(off, b.Seconds)
		ratios = append(ratios, a.Seconds/b.Seconds)
	}
	return &pairedSteps{Pairs: pairs, MethodStepMS: 1000 * median(on), NoneStepMS: 1000 * median(off),
		Ratio: median(ratios), RatioMin: slices.Min(ratios), RatioMax: slices.Max(ratios)}, nil
}

func runBenchTrain(cmd *cobra.Command, f *benchTrainFlags) error {
	if f.threads > 0 {
		kernels.SetThreads(f.threads)
	}
	var m model.Model
	var err error
	name := f.model
	if f.model != "" {
		m, err = loadModelDType(f.model, f.baseDType)
	} else {
		mc, cerr := f.shape.ModelConfig(f.seqLen, 0)
		if cerr != nil {
			return cerr
		}
		var dt tensor.DType
		if dt, err = benchDType(f.baseDType); err != nil {
			return err
		}
		m, err = model.NewRandomDType(mc, 1, dt)
		name = fmt.Sprintf("random %s L%d C%d H%d/%d I%d V%d", mc.ModelType, mc.NumHiddenLayers, mc.HiddenSize, mc.NumAttentionHeads, mc.NumKeyValueHeads, mc.IntermediateSize, mc.VocabSize)
	}
	if err != nil {
		return err
	}
	cfg := train.DefaultConfig()
	cfg.Checkpointing, cfg.NumLayers = f.checkpointing, f.numLayers
	cfg.Method, cfg.R, cfg.Alpha = f.method, f.r, f.alpha
	cfg.Targets = strings.Split(f.targets, ",")
	cfg.Batch, cfg.SeqLen, cfg.Steps = f.batch, f.seqLen, f.steps
	if f.method == train.MethodNone {
		cfg.Method = "lora" // validate the other settings; none needs no rank or targets
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.Method = f.method
	task, err := train.NewModelTask(m, cfg)
	if err != nil {
		return err
	}
	batches := train.RandomBatches(f.batch, f.seqLen, m.Config().VocabSize, 1)
	if _, err := train.Bench(cfg, task, batches, f.warmup, 0); err != nil {
		return err
	}
	var vsNone *pairedSteps
	if f.vsNone {
		if vsNone, err = stepsVsNone(cfg, task, batches, f.steps); err != nil {
			return err
		}
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
	}
	if f.breakdown {
		kernels.StartStats()
	}
	cpu0 := cputime.Process()
	res, err := train.Bench(cfg, task, batches, 0, f.steps)
	cpu := cputime.Process() - cpu0
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	var bd *train.Breakdown
	if f.breakdown {
		b := train.NewBreakdown(kernels.StopStats(), res.Steps, res.Seconds)
		bd = &b
	}
	fwd := train.ForwardFLOPsPerToken(m, f.seqLen)
	trainFLOPs := fwd * train.TrainFLOPsMultiplier(f.method)
	trainable := 0
	for _, p := range task.Params() {
		trainable += p.W.Len()
	}
	out := benchTrainResult{
		Model: name, BaseDType: model.BaseDTypeOf(m).String(), BaseKernel: kernels.HalfKernel(model.BaseDTypeOf(m)), Method: f.method, R: f.r, Targets: f.targets, Batch: f.batch, SeqLen: f.seqLen,
		Steps: f.steps, Threads: kernels.Threads(), TokensPerS: res.TokensPerS,
		StepMS:     1000 * res.Seconds / float64(max(res.Steps, 1)),
		CPUStepMS:  1000 * cpu.Seconds() / float64(max(res.Steps, 1)),
		PeakRSSMiB: float64(train.PeakRSS()) / (1 << 20), ModelFLOPsPerToken: fwd, TrainFLOPsPerToken: trainFLOPs,
		GFLOPs: res.TokensPerS * trainFLOPs / 1e9, TrainableParams: trainable, VsNone: vsNone, Breakdown: bd,
	}
	return printJSONLine(cmd, out)
}
