package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/golora/golora/generate"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/train"
	"github.com/spf13/cobra"
)

// benchGenerateOpts are the flags of `golora bench generate`.
type benchGenerateOpts struct {
	modelPath                                           string
	arch                                                string
	layers, hidden, heads, kvHeads, vocab, intermediate int
	promptLen, newTokens, batch, threads, maxPos        int
	warmup, repeat                                      int
	seed                                                uint64
	cpuProfile, profilePhase                            string
	weights, baseDType                                  string
	allLogits, breakdown, prepack                       bool
}

func init() {
	var o benchGenerateOpts
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Time prefill and KV-cache decoding; prints one JSON line",
		Long: `Times a prompt prefill and greedy decoding with the KV cache, on a model
file (--model) or on a random model of a given shape (--arch and sizes; the
defaults are GPT-2 124M for gpt2 and a 124M-class GQA Llama for llama).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchGenerate(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.modelPath, "model", "", "model folder or llama2.c .bin (default: a random model of --arch)")
	f.StringVar(&o.arch, "arch", "gpt2", "random model family: gpt2 or llama")
	f.IntVar(&o.layers, "layers", 12, "random model: layers")
	f.IntVar(&o.hidden, "hidden", 768, "random model: hidden size")
	f.IntVar(&o.heads, "heads", 12, "random model: attention heads")
	f.IntVar(&o.kvHeads, "kv-heads", 0, "random model: key/value heads (0: gpt2 = heads, llama = heads/3 when divisible)")
	f.IntVar(&o.vocab, "vocab", 0, "random model: vocabulary (0: 50257 for gpt2, 32000 for llama)")
	f.IntVar(&o.intermediate, "intermediate", 0, "random model: MLP width (0: 4×hidden for gpt2, 8/3×hidden rounded to 64 for llama)")
	f.IntVar(&o.maxPos, "max-positions", 1024, "random model: maximum positions")
	f.IntVar(&o.promptLen, "prompt-len", 256, "prompt tokens per row")
	f.IntVar(&o.newTokens, "new-tokens", 128, "tokens to decode per row")
	f.IntVar(&o.batch, "batch", 1, "rows decoded together")
	f.IntVar(&o.threads, "threads", 0, "kernel threads (0: GOLORA_THREADS or GOMAXPROCS)")
	f.Uint64Var(&o.seed, "seed", 1, "random model and prompt seed")
	f.StringVar(&o.weights, "weights", "f32", "decode weights: f32, or f16 (half the bytes per token; prefill stays f32)")
	f.IntVar(&o.warmup, "warmup", 1, "untimed prefills before the timed ones")
	addBaseDTypeFlag(f, &o.baseDType)
	f.IntVar(&o.repeat, "repeat", 3, "timed prefills; prefill_s is their median")
	f.BoolVar(&o.allLogits, "all-logits", false, "prefill computes the logits of every prompt token (as PyTorch's reference does), not only the last")
	f.BoolVar(&o.prepack, "prepack", false, "keep the float32 weights also packed in the GEMM's panel layout (prefill skips transposing them each call; one more copy of the weights in memory)")
	f.BoolVar(&o.breakdown, "breakdown", false, "add where the time went (prefill_breakdown per timed prefill, decode_breakdown per decoded token: parallel regions, serial rest, waits, each GEMM shape and its GFLOP/s)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to this file (go tool pprof)")
	f.StringVar(&o.profilePhase, "profile-phase", "decode", "phase the CPU profile covers: prefill or decode")
	benchCmd.AddCommand(cmd)
}

func benchConfig(o benchGenerateOpts) (*model.Config, error) {
	switch o.arch {
	case "gpt2":
		c := &model.Config{ModelType: "gpt2", VocabSize: o.vocab, NEmbd: o.hidden, NLayer: o.layers, NHead: o.heads, NPositions: o.maxPos}
		if c.VocabSize == 0 {
			c.VocabSize = 50257
		}
		if o.intermediate > 0 {
			c.NInner = &o.intermediate
		}
		return c, nil
	case "llama":
		c := &model.Config{ModelType: "llama", VocabSize: o.vocab, HiddenSize: o.hidden, NumHiddenLayers: o.layers,
			NumAttentionHeads: o.heads, NumKeyValueHeads: o.kvHeads, IntermediateSize: o.intermediate, MaxPositionEmbeddings: o.maxPos}
		if c.VocabSize == 0 {
			c.VocabSize = 32000
		}
		if c.NumKeyValueHeads == 0 {
			c.NumKeyValueHeads = o.heads
			if o.heads%3 == 0 {
				c.NumKeyValueHeads = o.heads / 3
			}
		}
		if c.IntermediateSize == 0 {
			c.IntermediateSize = (8*o.hidden/3 + 63) / 64 * 64
		}
		return c, nil
	}
	return nil, fmt.Errorf("bench generate: --arch %q (expected gpt2 or llama)", o.arch)
}

func runBenchGenerate(cmd *cobra.Command, o benchGenerateOpts) error {
	if o.threads > 0 {
		kernels.SetThreads(o.threads)
	}
	if o.promptLen < 1 || o.newTokens < 0 || o.batch < 1 || o.warmup < 0 || o.repeat < 1 {
		return fmt.Errorf("bench generate: need --prompt-len >= 1, --new-tokens >= 0, --batch >= 1, --warmup >= 0, --repeat >= 1")
	}
	var m model.Model
	var err error
	name := o.modelPath
	if o.modelPath != "" {
		m, err = loadModelDType(o.modelPath, o.baseDType)
	} else {
		var cfg *model.Config
		if cfg, err = benchConfig(o); err == nil {
			var dt tensor.DType
			if dt, err = benchDType(o.baseDType); err != nil {
				return err
			}
			m, err = model.NewRandomDType(cfg, o.seed, dt)
			name = fmt.Sprintf("random-%s-L%d-C%d", o.arch, o.layers, o.hidden)
		}
	}
	if err != nil {
		return err
	}
	if err := setDecodeWeights(m, o.weights); err != nil {
		return fmt.Errorf("bench generate: %w", err)
	}
	out := map[string]any{"prepack": o.prepack}
	if o.prepack {
		b, err := setPrepacked(m)
		if err != nil {
			return fmt.Errorf("bench generate: %w", err)
		}
		out["prepacked_mib"] = float64(b) / (1 << 20)
	}
	V := m.Config().VocabSize
	rows := make([][]int, o.batch)
	x := o.seed*6364136223846793005 + 1442695040888963407
	for b := range rows {
		for i := 0; i < o.promptLen; i++ {
			x = x*6364136223846793005 + 1442695040888963407
			rows[b] = append(rows[b], int((x>>33)%uint64(V)))
		}
	}
	c := m.NewCache(o.batch, o.promptLen+o.newTokens)
	stop, err := startProfile(o.cpuProfile, o.profilePhase == "prefill")
	if err != nil {
		return err
	}
	step := m.Step
	if o.allLogits {
		step = m.StepAll
	}
	// As PyTorch's reference does: untimed warm-up prefills (first-touch
	// page faults of the activations and the cache, worker start-up), then
	// the median of timed ones, each on an emptied cache.
	var logits []float32
	times := make([]time.Duration, 0, o.repeat)
	for i := 0; i < o.warmup+o.repeat; i++ {
		for b := 0; b < o.batch; b++ {
			c.Reset(b)
		}
		if i == o.warmup && o.breakdown {
			kernels.StartStats()
		}
		t0 := time.Now()
		if logits, err = step(c, rows); err != nil {
			return err
		}
		if i >= o.warmup {
			times = append(times, time.Since(t0))
		}
	}
	prefill := median(times)
	if o.breakdown {
		var total time.Duration
		for _, d := range times {
			total += d
		}
		out["prefill_breakdown"] = train.NewBreakdown(kernels.StopStats(), len(times), total.Seconds())
	}
	if o.allLogits { // decode starts from each row's last prompt token
		last := make([]float32, 0, o.batch*V)
		for b := 0; b < o.batch; b++ {
			n := (b+1)*o.promptLen - 1
			last = append(last, logits[n*V:(n+1)*V]...)
		}
		logits = last
	}
	stop()
	if stop, err = startProfile(o.cpuProfile, o.profilePhase == "decode"); err != nil {
		return err
	}
	defer stop()
	next := make([][]int, o.batch)
	if o.breakdown {
		kernels.StartStats()
	}
	t1 := time.Now()
	for i := 0; i < o.newTokens; i++ {
		for b := range next {
			next[b] = []int{generate.Argmax(logits[b*V : (b+1)*V])}
		}
		if logits, err = m.Step(c, next); err != nil {
			return err
		}
	}
	decode := time.Since(t1)
	stop()
	if o.breakdown {
		out["decode_breakdown"] = train.NewBreakdown(kernels.StopStats(), o.newTokens, decode.Seconds())
	}
	flops, wbytes := generateWork(m, o.promptLen, o.allLogits, o.weights)
	maps.Copy(out, map[string]any{
		"base_dtype":                    model.BaseDTypeOf(m).String(),
		"base_kernel":                   kernels.HalfKernel(model.BaseDTypeOf(m)),
		"weights":                       o.weights,
		"all_logits":                    o.allLogits,
		"prefill_flops_per_token":       flops,
		"decode_weight_bytes_per_token": wbytes,
		"bench":                         "generate",
		"model":                         name,
		"model_type":                    m.Config().ModelType,
		"batch":                         o.batch,
		"prompt_len":                    o.promptLen,
		"new_tokens":                    o.newTokens,
		"prefill_s":                     prefill.Seconds(),
		"prefill_runs":                  o.repeat,
		"decode_s":                      decode.Seconds(),
		"prefill_tokens_per_s":          float64(o.batch*o.promptLen) / prefill.Seconds(),
		"decode_tokens_per_s":           float64(o.batch*o.newTokens) / decode.Seconds(),
		"peak_rss_mib":                  peakRSSMiB(),
		"threads":                       kernels.Threads(),
		"goarch":                        runtime.GOARCH,
	})
	return printJSONLine(cmd, out)
}

// generateWork is the model work of one prefill token (2 FLOPs per linear
// weight, causal attention over the prompt, 2·L·T·NH·D per token on average,
// and the head once per prompt unless allLogits) and the weight bytes one
// decode step reads (every linear once, at the decode weights' width).
func generateWork(m model.Model, T int, allLogits bool, weights string) (flops, bytes float64) {
	c := m.Config()
	var blocks, head, quantBytes float64
	for _, l := range m.Linears() {
		n := float64(l.Linear.Out()) * float64(l.Linear.In())
		quantBytes += float64(l.Linear.W.Bytes())
		if l.Head {
			head += n
		} else {
			blocks += n
		}
	}
	headRows := 1 / float64(T)
	if allLogits {
		headRows = 1
	}
	d := c.HeadDim
	if d == 0 {
		d = c.HiddenSize / c.NumAttentionHeads
	}
	flops = 2*blocks + 2*head*headRows + 2*float64(c.NumHiddenLayers)*float64(T)*float64(c.NumAttentionHeads*d)
	width := 4.0
	if model.BaseDTypeOf(m).BlockSize() > 1 {
		return flops, quantBytes // as stored (q8_0, q4_k; rows that fit neither stay f32)
	}
	if weights == "f16" || model.BaseDTypeOf(m) != tensor.F32 {
		width = 2
	}
	return flops, (blocks + head) * width
}

// startProfile starts a CPU profile into path when on (and path is set) and
// returns the function that stops it; calling that again is a no-op.
func startProfile(path string, on bool) (stop func(), err error) {
	if path == "" || !on {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	done := false
	return func() {
		if !done {
			done = true
			pprof.StopCPUProfile()
			f.Close()
		}
	}, nil
}

// peakRSSMiB is the process's peak resident set (VmHWM) on Linux, and the
// Go runtime's obtained memory elsewhere.
func peakRSSMiB() float64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
				if err == nil {
					return float64(kb) / 1024
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.Sys) / (1 << 20)
}

// setDecodeWeights applies --weights: f32, or f16 (decode steps read F16
// copies of the linear weights: half the bytes per token).
func setDecodeWeights(m model.Model, weights string) error {
	switch weights {
	case "f32":
		return nil
	case "f16":
		t, ok := m.(*model.Transformer)
		if !ok {
			return fmt.Errorf("--weights f16 needs a golora transformer, got %T", m)
		}
		t.SetDecodeF16(true)
		return nil
	}
	return fmt.Errorf("--weights %q: expected f32 or f16", weights)
}

// setPrepacked applies --prepack: the frozen float32 weights also kept
// packed in the GEMM's panel layout (model.Transformer.SetPrepacked); it
// returns their bytes.
func setPrepacked(m model.Model) (int64, error) {
	t, ok := m.(*model.Transformer)
	if !ok {
		return 0, fmt.Errorf("--prepack needs a golora transformer, got %T", m)
	}
	return t.SetPrepacked(true), nil
}
