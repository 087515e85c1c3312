package train

import (
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model"
)

func TestBenchAndFLOPs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Batch, cfg.SeqLen = 2, 32
	task := embeddedTask(t, cfg)
	res, err := Bench(cfg, task, RandomBatches(2, 32, task.Model.Config().VocabSize, 1), 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3 || res.Tokens != 3*2*32 || !(res.TokensPerS > 0) {
		t.Errorf("bench result %+v", res)
	}

	// Forward FLOPs by hand for a small Llama shape: every linear weight
	// (q, k, v, o, gate, up, down, head) twice, plus attention over T keys.
	c := &model.Config{ModelType: "llama", NumHiddenLayers: 2, HiddenSize: 64, NumAttentionHeads: 4,
		NumKeyValueHeads: 2, IntermediateSize: 96, VocabSize: 101, MaxPositionEmbeddings: 64}
	m, err := model.NewRandom(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	const L, C, KV, I, V, T = 2, 64, 32, 96, 101, 16
	perLayer := C*C + 2*KV*C + C*C + 3*I*C
	want := 2*float64(L*perLayer+V*C) + 4*L*T*C
	if got := ForwardFLOPsPerToken(m, T); got != want {
		t.Errorf("ForwardFLOPsPerToken = %g, want %g", got, want)
	}
}

// TestBenchMethodNone times the frozen base: nothing is trainable, the
// weights stay bit for bit, and a training config still refuses the method.
func TestBenchMethodNone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Method, cfg.Batch, cfg.SeqLen = MethodNone, 2, 16
	task := embeddedTask(t, cfg)
	if n := len(task.Params()); n != 0 || task.LoRA != nil {
		t.Fatalf("method none: %d trainable params, LoRA %v", n, task.LoRA)
	}
	before := map[string][]float32{}
	for _, p := range task.Model.Params() {
		before[p.Name] = append([]float32(nil), p.W.Data...)
	}
	res, err := Bench(cfg, task, RandomBatches(2, 16, task.Model.Config().VocabSize, 1), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tokens != 2*2*16 {
		t.Errorf("tokens %d, want %d", res.Tokens, 2*2*16)
	}
	for _, p := range task.Model.Params() {
		for i, v := range p.W.Data {
			if v != before[p.Name][i] {
				t.Fatalf("%s[%d] changed: %g -> %g", p.Name, i, before[p.Name][i], v)
			}
		}
	}
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted --method none for training")
	}
}

// TestNewBreakdown checks the per-step arithmetic: times divided by the
// steps, the serial rest, GEMM rates, shapes largest first.
func TestNewBreakdown(t *testing.T) {
	s := kernels.Stats{Regions: 10, RegionNs: 1.5e9, WaitNs: 2e8, Gemms: []kernels.GemmStat{
		{M: 4, N: 5, K: 6, TransB: true, Calls: 2, Ns: 2e8},
		{M: 1000, N: 1000, K: 1000, Calls: 4, Ns: 8e8},
	}}
	b := NewBreakdown(s, 2, 2)
	if b.StepMS != 1000 || b.RegionMS != 750 || b.SerialMS != 250 || b.Regions != 5 || b.WaitMS != 100 {
		t.Errorf("per step: %+v", b)
	}
	if b.GemmMS != 500 || b.GemmCalls != 3 || len(b.Gemms) != 2 {
		t.Fatalf("GEMMs: %+v", b)
	}
	if g := b.Gemms[0]; g.Shape != "1000x1000x1000 NN" || g.Calls != 2 || g.MS != 400 || g.GFLOPs != 10 {
		t.Errorf("largest shape %+v, want 1000x1000x1000 NN, 2 calls, 400 ms, 10 GFLOP/s", g)
	}
	if g := b.Gemms[1]; g.Shape != "4x5x6 NT" {
		t.Errorf("second shape %q, want 4x5x6 NT", g.Shape)
	}
}
