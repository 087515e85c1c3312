package train

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/golora/golora/data"
	"github.com/golora/golora/model"
)

// randomExamples are sequences over a repeating pattern, so that every
// method can lower the loss quickly.
func randomExamples(n, T, V int, seed uint64) []shiftedSeq {
	r := rand.New(rand.NewPCG(seed, 5))
	var out []shiftedSeq
	for i := 0; i < n; i++ {
		start := r.IntN(V)
		seq := make([]int, T+1)
		for j := range seq {
			seq[j] = (start + 7*j) % V
		}
		out = append(out, shiftedSeq{IDs: seq[:T], Targets: seq[1:]})
	}
	return out
}

func embeddedTask(t *testing.T, cfg Config) *ModelTask {
	t.Helper()
	m, err := model.Load("")
	if err != nil {
		t.Skipf("embedded model unavailable: %v", err)
	}
	task, err := NewModelTask(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func TestModelTaskMethods(t *testing.T) {
	for _, method := range Methods {
		t.Run(method, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Method, cfg.Targets, cfg.R = method, []string{"q", "v"}, 4
			cfg.Out, cfg.Steps, cfg.Warmup, cfg.LR = t.TempDir(), 8, 0, 1e-2
			cfg.Batch, cfg.SeqLen, cfg.EvalEvery, cfg.SaveEvery = 2, 16, 0, 0
			task := embeddedTask(t, cfg)
			V := task.Model.Config().VocabSize
			if len(task.Params()) == 0 {
				t.Fatal("no trainable parameters")
			}
			tb, _ := NewShuffledBatches(randomExamples(2, 16, V, 1), 2, 16, 0, 1)
			b, _ := tb.Next()
			valid := []data.Batch{b}
			sum, err := (&Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &bytes.Buffer{}}).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ev := sum.History.Evals
			if !(ev[len(ev)-1].ValLoss < ev[0].ValLoss-0.05) {
				t.Errorf("val loss %.4f -> %.4f: no progress in 8 steps", ev[0].ValLoss, ev[len(ev)-1].ValLoss)
			}
			want := "adapter_model.safetensors"
			switch method {
			case "full":
				want = "model.safetensors"
			case "adapter":
				want = "adapter"
			}
			if _, err := os.Stat(filepath.Join(cfg.Out, want)); err != nil {
				t.Errorf("final artefact: %v", err)
			}
			if method != "full" && sum.TrainableParams >= sum.TotalParams/2 {
				t.Errorf("%d of %d parameters trainable", sum.TrainableParams, sum.TotalParams)
			}
		})
	}
}

// TestModelTaskWeight: Step's gradient is linear in weight, and its loss is
// the model's own mean cross-entropy.
func TestModelTaskWeight(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Method = "lora"
	cfg.Init = "gaussian" // nonzero B, so lora_A gets a gradient too
	task := embeddedTask(t, cfg)
	V := task.Model.Config().VocabSize
	ex := randomExamples(2, 12, V, 3)
	ids := append(append([]int(nil), ex[0].IDs...), ex[1].IDs...)
	tg := append(append([]int(nil), ex[0].Targets...), ex[1].Targets...)
	tg[3] = data.IgnoreIndex

	task.ZeroGrad()
	l1, n := task.Step(ids, tg, 2, 12, 1)
	g1 := snapshotGrads(task.Params())
	task.ZeroGrad()
	l2, _ := task.Step(ids, tg, 2, 12, 0.25)
	g2 := snapshotGrads(task.Params())
	if n != 23 || l1 != l2 {
		t.Fatalf("loss %v vs %v, %d tokens", l1, l2, n)
	}
	if ref := task.Model.Loss(ids, tg, 2, 12); math.Abs(ref-l1) > 1e-6 {
		t.Errorf("Step loss %v, model.Loss %v", l1, ref)
	}
	nonzero := 0
	for i := range g1 {
		for j := range g1[i] {
			if g1[i][j] != 0 {
				nonzero++
			}
			if d := math.Abs(float64(g2[i][j] - 0.25*g1[i][j])); d > 1e-6*(1+math.Abs(float64(g1[i][j]))) {
				t.Fatalf("param %d[%d]: weight 0.25 grad %g, weight 1 grad %g", i, j, g2[i][j], g1[i][j])
			}
		}
	}
	if nonzero == 0 {
		t.Fatal("all gradients are zero")
	}
	// Eval agrees with Step's loss and leaves the gradients alone.
	s, en := task.Eval(ids, tg, 2, 12)
	if en != n || math.Abs(s/float64(en)-l1) > 1e-6 {
		t.Errorf("Eval %v/%d, Step %v/%d", s, en, l1, n)
	}
}

func snapshotGrads(ps []Param) [][]float32 {
	var out [][]float32
	for _, p := range ps {
		out = append(out, append([]float32(nil), p.G.Data...))
	}
	return out
}

// TestModelTaskResume is the resume test on the real model with LoRA:
// byte-identical PEFT adapter files after 10 + 10 steps and after 20.
func TestModelTaskResume(t *testing.T) {
	run := func(out string, cancelAt int, resume bool) []StepRecord {
		cfg := DefaultConfig()
		cfg.Out, cfg.Steps, cfg.Warmup, cfg.Batch, cfg.SeqLen = out, 20, 3, 2, 16
		cfg.EvalEvery, cfg.SaveEvery, cfg.Resume, cfg.LoRAPlusRatio, cfg.WeightDecay = 5, 0, resume, 4, 0.01
		task := embeddedTask(t, cfg)
		V := task.Model.Config().VocabSize
		tb, _ := NewShuffledBatches(randomExamples(9, 16, V, 4), 2, 16, 0, 1)
		vb, _ := NewShuffledBatches(randomExamples(2, 16, V, 5), 2, 16, 0, 1)
		b, _ := vb.Next()
		return runUntil(&Trainer{Config: cfg, Task: task, Train: tb, Valid: []data.Batch{b}}, cancelAt)
	}
	a, b := t.TempDir(), t.TempDir()
	sa := run(a, 0, false)
	sb := append(run(b, 10, false), run(b, 0, true)...)
	checkSameRuns(t, sa, sb, a, b)
}

// TestTargetModulesFused: Phi-3's short names select its fused projections,
// once each, as PEFT targets them.
func TestTargetModulesFused(t *testing.T) {
	m, err := model.NewRandom(&model.Config{ModelType: "phi3", VocabSize: 16, HiddenSize: 16, IntermediateSize: 24,
		NumHiddenLayers: 1, NumAttentionHeads: 2, MaxPositionEmbeddings: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := targetModules(m, []string{"q", "k", "v", "gate", "up", "down"})
	want := []string{"qkv_proj", "gate_up_proj", "down_proj"}
	if !slices.Equal(got.Names, want) {
		t.Errorf("target_modules %v, want %v", got.Names, want)
	}
	if all := targetModules(m, []string{"all"}); !all.IsRegex || all.Regex != "all-linear" {
		t.Errorf("all: %+v", all)
	}
}
