package train

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/golora/golora/data"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model"
)

// BenchResult is the timing of Bench.
type BenchResult struct {
	Steps      int
	Tokens     int     // loss tokens in the timed steps
	Seconds    float64 // wall time of the timed steps
	TokensPerS float64
}

// Bench times steps optimizer steps of task exactly as Run computes them
// (forward, backward, accumulation, clipping, AdamW) after warmup untimed
// ones, without evaluation, checkpoints or telemetry. A task without
// parameters (MethodNone) is timed too: forward and backward still run, and
// clipping and AdamW have nothing to do.
func Bench(cfg Config, task Task, batches Batches, warmup, steps int) (BenchResult, error) {
	if cfg.Threads > 0 {
		kernels.SetThreads(cfg.Threads)
	}
	params := task.Params()
	if len(params) > 0 {
		if err := checkParams(params); err != nil {
			return BenchResult{}, err
		}
	}
	opt := newAdamW(cfg, params)
	sp := &stepper{task: task, params: params, rng: rand.NewPCG(uint64(cfg.Seed), 1), maxNorm: cfg.MaxGradNorm, micro: make([]data.Batch, cfg.GradAccum)}
	var res BenchResult
	var t0 time.Time
	for i := 0; i < warmup+steps; i++ {
		if i == warmup {
			t0 = time.Now()
		}
		_, _, tokens, err := sp.step(batches)
		if err != nil {
			return res, err
		}
		opt.step(i+1, cfg.LR)
		if i >= warmup {
			res.Tokens += tokens
		}
	}
	res.Steps = steps
	res.Seconds = time.Since(t0).Seconds()
	res.TokensPerS = float64(res.Tokens) / max(res.Seconds, 1e-9)
	return res, nil
}

// randomBatches is an endless stream of uniformly random token sequences,
// every position a loss target, for benchmarks.
type randomBatches struct {
	rng     *rand.PCG
	b, t, v int
}

// RandomBatches returns a stream of B×T batches of random tokens below
// vocab (targets are the next tokens of a B×(T+1) draw).
func RandomBatches(b, t, vocab int, seed uint64) Batches {
	return &randomBatches{rng: rand.NewPCG(seed, 0xbe7c), b: b, t: t, v: vocab}
}

func (r *randomBatches) Next() (data.Batch, error) {
	g := rand.New(r.rng)
	bt := data.Batch{IDs: make([]int, r.b*r.t), Targets: make([]int, r.b*r.t), B: r.b, T: r.t, Rows: r.b, Examples: r.b, LossTokens: r.b * r.t}
	for row := 0; row < r.b; row++ {
		seq := make([]int, r.t+1)
		for j := range seq {
			seq[j] = g.IntN(r.v)
		}
		copy(bt.IDs[row*r.t:], seq[:r.t])
		copy(bt.Targets[row*r.t:], seq[1:])
	}
	return bt, nil
}

func (r *randomBatches) State() ([]byte, error) { return r.rng.MarshalBinary() }
func (r *randomBatches) Restore(s []byte) error { return r.rng.UnmarshalBinary(s) }

// ForwardFLOPsPerToken is the model work of one token's forward pass at
// sequence length T: 2 FLOPs per linear weight (output head included) plus
// attention over all T keys, QKᵀ and AV, 4·L·T·(NH·D) (PaLM's convention,
// which the PyTorch figure of ≈ 87 GFLOP/s at 169 tok/s for GPT-2
// uses: 2 × 257 MFLOP/token). Frozen-base training (LoRA, adapters) costs
// about 2× it, full fine-tuning 3×.
func ForwardFLOPsPerToken(m model.Model, T int) float64 {
	var w float64
	for _, l := range m.Linears() {
		w += float64(l.Linear.Out()) * float64(l.Linear.In())
	}
	c := m.Config()
	d := c.HeadDim
	if d == 0 {
		d = c.HiddenSize / c.NumAttentionHeads
	}
	return 2*w + 4*float64(c.NumHiddenLayers)*float64(T)*float64(c.NumAttentionHeads*d)
}

// TrainFLOPsMultiplier is the training work per token in units of the
// forward pass: 2 when the base is frozen (backward needs only the
// activation gradients), 3 for method full (weight gradients too).
func TrainFLOPsMultiplier(method string) float64 {
	if method == "full" {
		return 3
	}
	return 2
}

// Breakdown is where the timed steps' wall time went, per step, from the
// kernels' counters (kernels.StartStats): the parallel regions and the
// serial rest, the waits, and every GEMM shape's share.
type Breakdown struct {
	StepMS float64 `json:"step_ms"`
	// RegionMS is time in parallel regions (GEMMs included); SerialMS the
	// rest of the step, when the caller ran alone and the workers idled.
	RegionMS float64 `json:"region_ms"`
	SerialMS float64 `json:"serial_ms"`
	Regions  float64 `json:"regions"`
	// WaitMS: the caller waiting for workers at the end of regions;
	// BarrierMS: goroutines waiting at the row-split GEMM's barriers
	// (summed); IdleSpinMS: workers spinning between jobs (summed).
	WaitMS     float64     `json:"wait_ms"`
	BarrierMS  float64     `json:"barrier_ms"`
	IdleSpinMS float64     `json:"idle_spin_ms"`
	GemmMS     float64     `json:"gemm_ms"`
	GemmCalls  float64     `json:"gemm_calls"`
	Gemms      []GemmShare `json:"gemms"`
	// Ops: the parallel regions by the function that started them
	// (nn.(*Linear).mulWT: forward products; AddMulW: backward ones).
	Ops []OpShare `json:"ops"`
}

// OpShare is one function's parallel regions per step.
type OpShare struct {
	Op      string  `json:"op"`
	Regions float64 `json:"regions"`
	MS      float64 `json:"ms"`
}

// GemmShare is one GEMM shape's calls per step.
type GemmShare struct {
	Shape  string  `json:"shape"` // M×N×K and op(A), op(B): "1024x2304x768 NT"
	Calls  float64 `json:"calls"`
	MS     float64 `json:"ms"`
	WaitMS float64 `json:"wait_ms"`
	GFLOPs float64 `json:"gflops"`
}

// NewBreakdown turns the counters of steps steps that took seconds into
// per-step figures, the GEMM shapes by time, largest first.
func NewBreakdown(s kernels.Stats, steps int, seconds float64) Breakdown {
	per := 1 / float64(max(steps, 1))
	ms := func(ns int64) float64 { return float64(ns) / 1e6 * per }
	b := Breakdown{StepMS: 1000 * seconds * per, RegionMS: ms(s.RegionNs), Regions: float64(s.Regions) * per,
		WaitMS: ms(s.WaitNs), BarrierMS: ms(s.BarrierNs), IdleSpinMS: ms(s.IdleSpinNs)}
	b.SerialMS = b.StepMS - b.RegionMS
	op := map[bool]string{false: "N", true: "T"}
	for _, g := range s.Gemms {
		b.GemmMS += ms(g.Ns)
		b.GemmCalls += float64(g.Calls) * per
		b.Gemms = append(b.Gemms, GemmShare{Shape: fmt.Sprintf("%dx%dx%d %s%s", g.M, g.N, g.K, op[g.TransA], op[g.TransB]),
			Calls: float64(g.Calls) * per, MS: ms(g.Ns), WaitMS: ms(g.WaitNs),
			GFLOPs: 2 * float64(g.M) * float64(g.N) * float64(g.K) * float64(g.Calls) / max(float64(g.Ns), 1)})
	}
	slices.SortStableFunc(b.Gemms, func(x, y GemmShare) int { return cmp.Compare(y.MS, x.MS) })
	for _, o := range s.Ops {
		b.Ops = append(b.Ops, OpShare{Op: o.Op, Regions: float64(o.Regions) * per, MS: ms(o.Ns)})
	}
	return b
}
