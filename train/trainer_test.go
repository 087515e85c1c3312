package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golora/golora/format/safetensors"
)

// runTrainer trains cfg on a fresh test setup; cancelAt > 0 cancels the
// context after that step (the Ctrl-C path).
func runTrainer(t *testing.T, cfg Config, cancelAt int) (*Summary, []StepRecord, *softmaxTask, error) {
	t.Helper()
	task, tb, valid := testSetup(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steps []StepRecord
	var log bytes.Buffer
	tr := &Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &log,
		OnStep: func(r StepRecord) {
			steps = append(steps, r)
			if r.Step == cancelAt {
				cancel()
			}
		},
		Plot: fakePlot}
	sum, err := tr.Run(ctx)
	if testing.Verbose() {
		t.Log(log.String())
	}
	return sum, steps, task, err
}

func TestTrainLearns(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps = 60
	start := time.Now()
	sum, steps, _, err := runTrainer(t, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if wall := time.Since(start); sum.Elapsed <= 0 || sum.Elapsed > wall {
		t.Errorf("summary time %v, wall time %v", sum.Elapsed, wall)
	}
	ev := sum.History.Evals
	if len(ev) != 1+60/cfg.EvalEvery {
		t.Fatalf("%d evaluations, want %d (step 0, then every %d)", len(ev), 1+60/cfg.EvalEvery, cfg.EvalEvery)
	}
	// The chain is 80% deterministic: the best achievable loss is far below
	// the uniform log(12) ≈ 2.48 the random model starts near.
	if first, last := ev[0].ValLoss, ev[len(ev)-1].ValLoss; !(last < first-0.5) {
		t.Errorf("validation loss %.4f -> %.4f: did not drop by 0.5", first, last)
	}
	if len(steps) != 60 || steps[59].Step != 60 {
		t.Fatalf("got %d step records", len(steps))
	}
	for _, f := range []string{"metrics.jsonl", "loss.png", "adapter_model.safetensors", "adapter_config.json", "checkpoints/latest", "checkpoints/step-000060/state.json"} {
		if _, err := os.Stat(filepath.Join(cfg.Out, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	// keep-checkpoints 2: only the two newest survive (and --keep-best's weights).
	entries, _ := os.ReadDir(filepath.Join(cfg.Out, "checkpoints"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "best.safetensors latest step-000055 step-000060" {
		t.Errorf("checkpoints dir holds %v", names)
	}
	if plot, _ := os.ReadFile(filepath.Join(cfg.Out, "loss.png")); string(plot) != "60 steps, 13 evals" {
		t.Errorf("loss.png was last drawn from %q, want the whole history", plot)
	}
	if sum.TotalParams != 2*12*8+12 || sum.TrainableParams != sum.TotalParams {
		t.Errorf("param counts %d/%d", sum.TrainableParams, sum.TotalParams)
	}
}

// TestResumeIdentical is the resume test: 20 steps in one run and
// 10 + resume 10 give identical losses at every step and byte-identical
// adapter files. Dropout is on, so the RNG state must be restored too.
func TestResumeIdentical(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cancelAt  int
		saveEvery int
		accum     int
	}{
		{"interrupt at 10", 10, 0, 1},
		{"interrupt at 13, checkpoints every 5", 13, 5, 1},
		{"grad accumulation", 10, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgA := testConfig(t.TempDir())
			cfgA.SaveEvery, cfgA.GradAccum = tc.saveEvery, tc.accum
			cfgA.Batch = 4 / tc.accum
			_, stepsA, _, err := runTrainer(t, cfgA, 0)
			if err != nil {
				t.Fatal(err)
			}
			cfgB := cfgA
			cfgB.Out = t.TempDir()
			_, steps1, _, err := runTrainer(t, cfgB, tc.cancelAt)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
			}
			cfgB.Resume = true
			_, steps2, _, err := runTrainer(t, cfgB, 0)
			if err != nil {
				t.Fatal(err)
			}
			stepsB := append(steps1, steps2...)
			if len(stepsA) != 20 || len(stepsB) != 20 {
				t.Fatalf("%d and %d steps, want 20", len(stepsA), len(stepsB))
			}
			for i := range stepsA {
				a, b := stepsA[i], stepsB[i]
				if a.Step != b.Step || a.Loss != b.Loss || a.LR != b.LR || a.GradNorm != b.GradNorm || a.Tokens != b.Tokens {
					t.Errorf("step %d: one run %+v, resumed %+v", i+1, a, b)
				}
			}
			for _, f := range []string{"adapter_model.safetensors", "adapter_config.json"} {
				a, errA := os.ReadFile(filepath.Join(cfgA.Out, f))
				b, errB := os.ReadFile(filepath.Join(cfgB.Out, f))
				if errA != nil || errB != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs between the single and the resumed run (%v, %v)", f, errA, errB)
				}
			}
			// metrics.jsonl of the resumed run has every step exactly once.
			ma := stripElapsed(t, filepath.Join(cfgA.Out, "metrics.jsonl"))
			mb := stripElapsed(t, filepath.Join(cfgB.Out, "metrics.jsonl"))
			if ma != mb {
				t.Errorf("metrics.jsonl differs:\n%s\nvs\n%s", ma, mb)
			}
		})
	}
}

// stripElapsed returns metrics.jsonl without the timing fields.
func stripElapsed(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i := strings.Index(line, `,"tokens_per_s"`); i >= 0 {
			line = line[:i]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// TestGradAccumEquivalence: batch 4 equals 2 micro-batches of 2 (the
// examples have different numbers of loss tokens, so a plain average of
// micro-batch means would differ).
func TestGradAccumEquivalence(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Dropout, cfg.Steps, cfg.SaveEvery, cfg.EvalEvery = 0, 8, 0, 0
	_, s4, taskA, err := runTrainer(t, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Out, cfg.Batch, cfg.GradAccum = t.TempDir(), 2, 2
	_, s22, taskB, err := runTrainer(t, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s4 {
		if math.Abs(s4[i].Loss-s22[i].Loss) > 1e-5 || s4[i].Tokens != s22[i].Tokens {
			t.Errorf("step %d: batch 4 loss %.7f (%d tokens), 2x2 %.7f (%d tokens)", i+1, s4[i].Loss, s4[i].Tokens, s22[i].Loss, s22[i].Tokens)
		}
	}
	maxdiff := 0.0
	for i := range taskA.W.Data {
		maxdiff = math.Max(maxdiff, math.Abs(float64(taskA.W.Data[i]-taskB.W.Data[i])))
	}
	if maxdiff > 1e-4 {
		t.Errorf("head weights differ by %g after 8 steps", maxdiff)
	}
}

func TestNonFiniteStops(t *testing.T) {
	cfg := testConfig(t.TempDir())
	task, tb, valid := testSetup(cfg)
	task.poison = 8 // the 8th micro-batch: step 8 with grad-accum 1
	var log bytes.Buffer
	_, err := (&Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &log}).Run(context.Background())
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err = %v, want ErrNonFinite", err)
	}
	if !strings.Contains(err.Error(), "step 8") || !strings.Contains(err.Error(), "step-000005") {
		t.Errorf("error does not name the step and the last good checkpoint: %v", err)
	}
	ck, _, err := loadLatest(cfg.Out)
	if err != nil || ck.State.Step != 5 {
		t.Fatalf("latest checkpoint after NaN: %v (%v)", ck, err)
	}
	for name, x := range ck.Tensors {
		if !allFinite(x.Data) {
			t.Errorf("checkpoint tensor %s has non-finite values", name)
		}
	}
	// The weights were not updated by the poisoned step.
	for _, p := range task.Params() {
		if !allFinite(p.W.Data) {
			t.Errorf("%s became non-finite", p.Name)
		}
	}
	// And a checkpoint of NaN weights is refused outright.
	task.E.Data[3] = float32(math.NaN())
	st := State{Version: stateVersion, Step: 9}
	if _, err := saveCheckpoint(cfg.Out, &st, task.Params(), newAdamW(cfg, task.Params()), task, 2); err == nil {
		t.Error("saveCheckpoint accepted NaN weights")
	}
}

func TestResumeRejectsDifferentSettings(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps = 5
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatal(err)
	}
	cfg.Resume, cfg.Steps, cfg.Batch = true, 10, 2
	_, _, _, err := runTrainer(t, cfg, 0)
	if err == nil || !strings.Contains(err.Error(), "--batch") {
		t.Fatalf("err = %v, want a complaint about --batch", err)
	}
	// Extending the run (more steps) is allowed.
	cfg.Batch = 4
	sum, steps, _, err := runTrainer(t, cfg, 0)
	if err != nil || sum.Steps != 10 || len(steps) != 5 || steps[0].Step != 6 {
		t.Fatalf("extended resume: %v, %d new steps", err, len(steps))
	}
}

func TestEpochs(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Epochs, cfg.GradAccum, cfg.Batch = 1.5, 2, 4 // 64 examples: 16 batches per epoch -> 12 steps
	cfg.EvalEvery, cfg.SaveEvery = 0, 0
	sum, _, _, err := runTrainer(t, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 12 {
		t.Errorf("1.5 epochs of 16 batches with grad-accum 2: %d steps, want 12", sum.Steps)
	}
}

func TestProgressOutput(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, tty: true, total: 10, logEvery: 5, t0: time.Now()}
	p.step(StepRecord{Step: 1, Loss: 2.5, LR: 1e-3, Tokens: 100}, 0.5)
	p.line("step %d val_loss %.2f", 1, 2.0)
	out := buf.String()
	for _, want := range []string{"\r\033[Kstep 1/10  [=", "loss 2.5000", "lr 1.00e-03", "200 loss tok/s", "ETA", "\nstep 1 val_loss 2.00\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output %q lacks %q", out, want)
		}
	}
	buf.Reset()
	p = &progress{w: &buf, tty: false, total: 10, logEvery: 5, t0: time.Now()}
	for s := 1; s <= 10; s++ {
		p.step(StepRecord{Step: s, Loss: 1, Tokens: 10}, 0.01)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || strings.Contains(buf.String(), "\r") {
		t.Errorf("log output: want lines for steps 1, 5, 10, got %q", buf.String())
	}
}

func TestResumeFinishedRun(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps = 5
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(filepath.Join(cfg.Out, "checkpoints", "step-000005", "state.json"))
	cfg.Resume = true
	sum, steps, _, err := runTrainer(t, cfg, 0)
	if err != nil || len(steps) != 0 || sum.Steps != 5 {
		t.Fatalf("resuming a finished run: %v, %d new steps", err, len(steps))
	}
	st2, _ := os.Stat(filepath.Join(cfg.Out, "checkpoints", "step-000005", "state.json"))
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("the final checkpoint was rewritten")
	}
}

func TestDeterministicGivenSeed(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps, cfg.SaveEvery = 8, 0
	_, a, _, errA := runTrainer(t, cfg, 0)
	cfg.Out = t.TempDir()
	_, b, _, errB := runTrainer(t, cfg, 0)
	cfg.Out, cfg.Seed = t.TempDir(), cfg.Seed+1
	_, c, _, errC := runTrainer(t, cfg, 0)
	if err := errors.Join(errA, errB, errC); err != nil {
		t.Fatal(err)
	}
	same, differ := true, false
	for i := range a {
		same = same && a[i].Loss == b[i].Loss && a[i].GradNorm == b[i].GradNorm
		differ = differ || a[i].Loss != c[i].Loss
	}
	if !same {
		t.Error("two runs with the same seed differ")
	}
	if !differ {
		t.Error("a different seed gave the same losses")
	}
}

// fakePlot stands in for lossplot.Write (which train cannot import): it
// records what it was given.
func fakePlot(path string, h History) error {
	return os.WriteFile(path, fmt.Appendf(nil, "%d steps, %d evals", len(h.Steps), len(h.Evals)), 0o644)
}

// TestOptionalParts: a Trainer with NoCheckpoints, NoMetrics and no Plot
// writes the adapter and nothing else, and --keep-best still keeps the best
// validated weights (in memory).
func TestOptionalParts(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps, cfg.EvalEvery, cfg.EvalBatches = 20, 5, 1
	base, tb, valid := testSetup(cfg)
	task := &scriptedEval{softmaxTask: base, losses: []float64{3, 2, 1, 1.5, 2}} // best at step 10
	var at10 []float32
	var log bytes.Buffer
	tr := &Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &log, NoCheckpoints: true, NoMetrics: true,
		OnEval: func(r EvalRecord) {
			if r.Step == 10 {
				at10 = slices.Clone(base.W.Data)
			}
		}}
	sum, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(cfg.Out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "adapter_config.json adapter_model.safetensors" {
		t.Errorf("--out holds %s, want only the adapter", got)
	}
	saved, _, err := safetensors.ReadAll(filepath.Join(cfg.Out, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !sum.KeptBest || !slices.Equal(saved["head.weight"].Data, at10) {
		t.Errorf("keep-best in memory: kept %v, saved weights are not step 10's", sum.KeptBest)
	}
	if sum.Checkpoint != "" || sum.Metrics != "" || sum.Plot != "" || strings.Contains(log.String(), "metrics:") {
		t.Errorf("summary names files that were not written: %+v\n%s", sum, log.String())
	}
	cfg.Resume = true
	if _, err := (&Trainer{Config: cfg, Task: task, Train: tb, NoCheckpoints: true}).Run(context.Background()); err == nil {
		t.Error("--resume without checkpoints: no error")
	}
}

// TestProgressFits80Columns: the progress line fits an 80-column terminal
// however large the numbers, dropping the least important fields first
// (peak memory, then it/s, lr, the bar); a short line keeps the rest.
func TestProgressFits80Columns(t *testing.T) {
	for _, tc := range []struct {
		step, total int
		tokens      int
		tty         bool
	}{
		{1, 10, 100, true}, {1, 10, 100, false},
		{99999, 100000, 99999999, true}, {99999, 100000, 99999999, false},
		{5, 1000000, 1 << 40, true},
	} {
		var buf bytes.Buffer
		p := &progress{w: &buf, tty: tc.tty, total: tc.total, logEvery: 1, start: tc.step - 1, t0: time.Now().Add(-time.Hour)}
		p.step(StepRecord{Step: tc.step, Loss: 12.3456, LR: 1.5e-4, Tokens: tc.tokens}, 0.001)
		line := strings.TrimSuffix(strings.TrimPrefix(buf.String(), "\r\033[K"), "\n")
		if n := utf8.RuneCountInString(line); n > 79 {
			t.Errorf("%+v: %d columns: %q", tc, n, line)
		}
		for _, want := range []string{"step ", "loss 12.3456", "ETA "} {
			if !strings.Contains(line, want) {
				t.Errorf("%+v: %q lacks %q", tc, line, want)
			}
		}
	}
	var buf bytes.Buffer
	p := &progress{w: &buf, total: 10, logEvery: 1, t0: time.Now()}
	p.step(StepRecord{Step: 1, Loss: 1, LR: 1e-3, Tokens: 10}, 0.5)
	for _, want := range []string{"lr 1.00e-03", "2.00 it/s", "20 loss tok/s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("short line %q lacks %q", buf.String(), want)
		}
	}
}
