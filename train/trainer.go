package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golora/golora/kernels"
)

// Task is what the trainer drives: a model with whatever is trainable on it.
type Task interface {
	// Params lists the trainable tensors; the slice and its tensors must
	// stay the same for the whole run.
	Params() []Param
	// ZeroGrad clears every gradient buffer.
	ZeroGrad()
	// Step runs forward and backward on one micro-batch, accumulating the
	// gradients of (mean loss × weight), and returns the mean loss over the
	// loss-bearing targets and their number.
	Step(ids, targets []int, B, T int, weight float32) (loss float64, tokens int)
	// Eval returns the summed loss and the number of loss-bearing targets.
	Eval(ids, targets []int, B, T int) (lossSum float64, tokens int)
	// SaveAdapter writes the trained artefact (PEFT layout for LoRA/DoRA)
	// into dir, deterministically: same weights, same bytes.
	SaveAdapter(dir string) error
}

// Seeder is implemented by tasks with randomness (dropout). Before every
// micro-batch the trainer calls Seed with a value from its own checkpointed
// RNG, so runs are reproducible given Config.Seed and resume exactly.
type Seeder interface {
	Seed(s uint64)
}

// ParamCounter is implemented by tasks that know the total parameter count
// of the model, for the "trainable %" of the summary.
type ParamCounter interface {
	NumParams() int
}

// Trainer runs one training job. Set the fields, then call Run.
type Trainer struct {
	Config Config
	Task   Task
	Train  Batches
	Valid  []Batch // nil: no evaluation
	// Log receives progress and the summary (default os.Stdout); a terminal
	// gets a live progress line, anything else plain log lines.
	Log io.Writer
	// OnStep and OnEval, when set, see every record as it is logged.
	OnStep func(StepRecord)
	OnEval func(EvalRecord)
}

// Summary is the outcome of a run.
type Summary struct {
	Steps           int
	Tokens          int64
	Elapsed         time.Duration
	TrainableParams int
	TotalParams     int // 0 when the task does not say
	FinalLoss       float64
	BestValLoss     float64 // NaN without a validation set
	BestValStep     int
	Out             string
	Checkpoint      string
	History         History
	// KeptBest is set when --keep-best saved the weights of the best
	// evaluation (BestValStep), earlier than the last step, as the result.
	KeptBest bool
}

// ErrNonFinite is wrapped by the error Run returns when the loss or the
// gradient norm becomes NaN or Inf.
var ErrNonFinite = errors.New("non-finite loss")

// Run trains until Config.Steps (or Config.Epochs) optimizer steps are done,
// writes the final checkpoint, the adapter in Config.Out, metrics.jsonl and
// loss.png, and prints a summary. Cancelling ctx stops after the current
// step and writes a checkpoint first, so Ctrl-C loses nothing.
func (tr *Trainer) Run(ctx context.Context) (*Summary, error) {
	cfg := tr.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := tr.Log
	if log == nil {
		log = os.Stdout
	}
	if cfg.Threads > 0 {
		kernels.SetThreads(cfg.Threads)
	}
	params := tr.Task.Params()
	if err := checkParams(params); err != nil {
		return nil, err
	}
	total := cfg.Steps
	if cfg.Epochs > 0 {
		ep, ok := tr.Train.(Epocher)
		if !ok {
			return nil, fmt.Errorf("train: --epochs needs a data stream that knows its epoch length; use --steps")
		}
		total = int(math.Ceil(cfg.Epochs * float64(ep.BatchesPerEpoch()) / float64(cfg.GradAccum)))
		total = max(total, 1)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: --out: %w", err)
	}

	opt := newAdamW(cfg, params)
	rng := rand.NewPCG(uint64(cfg.Seed), 0x70c3a2b1d5e6f708)
	st := State{Version: stateVersion, Config: cfg, TotalSteps: total}
	pr := &progress{w: log, tty: isTerminal(log), total: total}
	unlock, err := lockRun(cfg.Out, pr.line)
	if err != nil {
		return nil, err
	}
	defer unlock()

	resumed := false
	if cfg.Resume {
		ck, warn, err := loadLatest(cfg.Out)
		switch {
		case errors.Is(err, ErrNoCheckpoint):
			pr.line("note: no checkpoint in %s yet; starting from step 0", filepath.Join(cfg.Out, checkpointsDir))
		case err != nil:
			return nil, err
		default:
			if warn != "" {
				pr.line("warning: %s", warn)
			}
			if diff := incompatible(ck.State.Config, cfg); len(diff) > 0 {
				return nil, fmt.Errorf("train: --resume from %s with different settings:\n  %s", ck.Dir, strings.Join(diff, "\n  "))
			}
			if err := ck.restore(params, opt); err != nil {
				return nil, err
			}
			if err := rng.UnmarshalBinary(ck.State.RNG); err != nil {
				return nil, fmt.Errorf("train: checkpoint %s: rng: %w", ck.Dir, err)
			}
			if err := tr.Train.Restore(ck.State.Data); err != nil {
				return nil, fmt.Errorf("train: checkpoint %s: %w", ck.Dir, err)
			}
			if ts, ok := tr.Task.(TaskStater); ok {
				if err := ts.RestoreTaskState(ck.State.Task); err != nil {
					return nil, fmt.Errorf("train: checkpoint %s: %w", ck.Dir, err)
				}
			}
			st.Step, st.Tokens, st.ElapsedS, st.History = ck.State.Step, ck.State.Tokens, ck.State.ElapsedS, ck.State.History
			resumed = true
			pr.line("resumed from %s (step %d of %d)", ck.Dir, st.Step, total)
		}
	}
	if !resumed { // starting afresh: never over an earlier run unasked
		if old := existingRun(cfg.Out); old != "" && !cfg.Overwrite {
			how := "continue it with --resume or replace it with --overwrite"
			if cfg.Resume {
				how = "it has no checkpoint to resume; replace it with --overwrite"
			}
			return nil, fmt.Errorf("train: --out %s already holds a run (%s); %s: %w", cfg.Out, old, how, ErrRunExists)
		} else if old != "" {
			pr.line("note: --overwrite: replacing the run in %s (%s)", cfg.Out, old)
		}
		if err := os.RemoveAll(filepath.Join(cfg.Out, checkpointsDir)); err != nil {
			return nil, fmt.Errorf("train: clearing old checkpoints: %w", err)
		}
	}
	pr.start = st.Step
	pr.logEvery = cfg.LogEvery
	if pr.logEvery == 0 {
		pr.logEvery = max(1, total/50)
	}

	mw, err := openMetrics(filepath.Join(cfg.Out, "metrics.jsonl"), st.History)
	if err != nil {
		return nil, err
	}
	defer mw.Close()

	lastSaved := -1
	if st.Step > 0 {
		lastSaved = st.Step // resumed: that checkpoint exists
	}
	runStart, elapsedBefore := time.Now(), st.ElapsedS
	elapsed := func() float64 { return elapsedBefore + time.Since(runStart).Seconds() }
	save := func() (string, error) {
		st.ElapsedS = elapsed()
		st.Config = cfg
		st.TotalSteps = total
		var err error
		if st.RNG, err = rng.MarshalBinary(); err != nil {
			return "", err
		}
		if st.Data, err = tr.Train.State(); err != nil {
			return "", fmt.Errorf("train: data state: %w", err)
		}
		if ts, ok := tr.Task.(TaskStater); ok {
			if st.Task, err = ts.TaskState(); err != nil {
				return "", fmt.Errorf("train: task state: %w", err)
			}
		}
		dir, err := saveCheckpoint(cfg.Out, &st, params, opt, tr.Task, cfg.KeepCkpts)
		if err != nil {
			return "", err
		}
		// Redraw the curve too, so a run that dies later still has one.
		if err := plotLoss(filepath.Join(cfg.Out, "loss.png"), st.History); err != nil {
			pr.line("warning: %v", err)
		}
		lastSaved = st.Step
		return dir, nil
	}
	eval := func() error {
		if tr.Valid == nil {
			return nil
		}
		rec, err := evaluate(tr.Task, tr.Valid, cfg.EvalBatches, st.Step)
		if err != nil {
			return err
		}
		if best, ok := bestEval(st.History); cfg.KeepBest && (!ok || rec.ValLoss < best.ValLoss) {
			if err := saveBest(cfg.Out, params, rec); err != nil {
				return fmt.Errorf("train: --keep-best: %w", err)
			}
		}
		st.History.Evals = append(st.History.Evals, rec)
		if err := mw.add(rec); err != nil {
			return fmt.Errorf("train: metrics: %w", err)
		}
		if tr.OnEval != nil {
			tr.OnEval(rec)
		}
		pr.line("step %d/%d  val_loss %.4f  val_ppl %.2f", rec.Step, total, rec.ValLoss, rec.ValPPL)
		return nil
	}
	lastGood := func() string {
		if b, err := os.ReadFile(filepath.Join(cfg.Out, checkpointsDir, latestFile)); err == nil {
			return filepath.Join(cfg.Out, checkpointsDir, strings.TrimSpace(string(b)))
		}
		return "none (no checkpoint was written yet)"
	}

	if st.Step == 0 && len(st.History.Evals) == 0 {
		if err := eval(); err != nil {
			return nil, err
		}
	}

	sp := &stepper{task: tr.Task, params: params, rng: rng, maxNorm: cfg.MaxGradNorm, micro: make([]Batch, cfg.GradAccum)}
	guard := &divergence{threshold: cfg.DivergenceThreshold, patience: cfg.DivergenceSteps}
	if vs, ok := tr.Task.(VocabSizer); ok && vs.VocabSize() > 1 {
		guard.lnVocab = math.Log(float64(vs.VocabSize()))
	}
	for _, r := range st.History.Steps { // a resumed run's scale
		guard.observe(r.Step, r.Loss, r.GradNorm, st.History.Steps[0].Loss)
	}
	savePending := false // a save point fell in a run of bad steps
	pr.t0 = time.Now()
	for st.Step < total {
		if ctx.Err() != nil {
			if lastSaved != st.Step {
				dir, err := save()
				if err != nil {
					return nil, errors.Join(ctx.Err(), err)
				}
				pr.line("interrupted at step %d; checkpoint %s (continue with --resume)", st.Step, dir)
			}
			return nil, fmt.Errorf("train: interrupted at step %d: %w", st.Step, ctx.Err())
		}
		stepStart := time.Now()
		loss, norm, tokens, err := sp.step(tr.Train)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
			pr.endLine()
			return nil, fmt.Errorf("train: step %d: loss %v, gradient norm %v: %w; training stopped before updating the weights. "+
				"Last good checkpoint: %s. Hint: lower --lr, set --max-grad-norm, or check the data", st.Step+1, loss, norm, ErrNonFinite, lastGood())
		}
		lr := lrAt(cfg.Schedule, cfg.LR, cfg.Warmup, total, st.Step+1)
		opt.step(st.Step+1, lr)
		st.Step++
		st.Tokens += int64(tokens)
		dt := time.Since(stepStart).Seconds()
		rec := StepRecord{Step: st.Step, Loss: loss, LR: lr, GradNorm: norm, Tokens: tokens, TokensPerS: float64(tokens) / max(dt, 1e-9), ElapsedS: elapsed()}
		st.History.Steps = append(st.History.Steps, rec)
		if err := mw.add(rec); err != nil {
			return nil, fmt.Errorf("train: metrics: %w", err)
		}
		if tr.OnStep != nil {
			tr.OnStep(rec)
		}
		pr.step(rec, dt)
		if guard.observe(st.Step, loss, norm, st.History.Steps[0].Loss) {
			pr.endLine()
			return nil, fmt.Errorf("train: step %d: %s for %d steps in a row (--divergence-threshold %g, --divergence-steps %d): %w; "+
				"training stopped and the diverged weights were not saved. Last good checkpoint: %s. Hint: lower --lr, or set --divergence-threshold 0 to turn the guard off",
				st.Step, guard.reason, guard.patience, cfg.DivergenceThreshold, cfg.DivergenceSteps, ErrDiverged, lastGood())
		}
		if st.Step == total {
			break
		}
		if cfg.EvalEvery > 0 && st.Step%cfg.EvalEvery == 0 {
			if err := eval(); err != nil {
				return nil, err
			}
		}
		// No checkpoint while steps look diverged: pruning could otherwise
		// replace the last good one by bad weights.
		if savePending = savePending || (cfg.SaveEvery > 0 && st.Step%cfg.SaveEvery == 0); savePending && guard.bad == 0 {
			if _, err := save(); err != nil {
				return nil, err
			}
			savePending = false
		}
	}

	if n := len(st.History.Evals); n == 0 || st.History.Evals[n-1].Step != st.Step {
		if err := eval(); err != nil {
			return nil, err
		}
	}
	ckpt := filepath.Join(cfg.Out, checkpointsDir, stepName(st.Step))
	if lastSaved != st.Step {
		var err error
		if ckpt, err = save(); err != nil {
			return nil, err
		}
	}
	best, hasBest := bestEval(st.History)
	keptBest := false
	if cfg.KeepBest && hasBest && best.Step != st.Step {
		if err := restoreBest(cfg.Out, params, best); err != nil {
			pr.line("warning: --keep-best: %v; saving the last step's weights", err)
		} else {
			keptBest = true
		}
	}
	if err := tr.Task.SaveAdapter(cfg.Out); err != nil {
		return nil, fmt.Errorf("train: saving the adapter to %s: %w", cfg.Out, err)
	}
	if err := plotLoss(filepath.Join(cfg.Out, "loss.png"), st.History); err != nil {
		pr.line("warning: %v", err)
	}
	sum := &Summary{Steps: st.Step, Tokens: st.Tokens, Elapsed: time.Duration(elapsed() * float64(time.Second)),
		Out: cfg.Out, Checkpoint: ckpt, History: st.History, BestValLoss: math.NaN()}
	for _, p := range params {
		sum.TrainableParams += p.W.Len()
	}
	if pc, ok := tr.Task.(ParamCounter); ok {
		sum.TotalParams = pc.NumParams()
	}
	if n := len(st.History.Steps); n > 0 {
		sum.FinalLoss = st.History.Steps[n-1].Loss
	}
	for _, e := range st.History.Evals {
		if math.IsNaN(sum.BestValLoss) || e.ValLoss < sum.BestValLoss {
			sum.BestValLoss, sum.BestValStep = e.ValLoss, e.Step
		}
	}
	sum.KeptBest = keptBest
	pr.endLine()
	sum.Print(log)
	return sum, nil
}

// TaskStater is implemented by tasks with state beyond their parameters
// that a resumed run needs (anything not re-derived from Seed).
type TaskStater interface {
	TaskState() ([]byte, error)
	RestoreTaskState([]byte) error
}

// Print writes the end-of-run summary.
func (s *Summary) Print(w io.Writer) {
	pct := ""
	if s.TotalParams > 0 {
		pct = fmt.Sprintf(" of %d (%.3f%%)", s.TotalParams, 100*float64(s.TrainableParams)/float64(s.TotalParams))
	}
	fmt.Fprintf(w, "trainable parameters: %d%s\n", s.TrainableParams, pct)
	tps := float64(s.Tokens) / max(s.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "steps: %d  tokens: %d  time: %s  (%.0f tok/s)  peak memory: %.0f MiB\n",
		s.Steps, s.Tokens, fmtDuration(s.Elapsed), tps, float64(PeakRSS())/(1<<20))
	fmt.Fprintf(w, "final train loss: %.4f\n", s.FinalLoss)
	if !math.IsNaN(s.BestValLoss) {
		first := s.History.Evals[0]
		fmt.Fprintf(w, "validation loss: %.4f at step %d -> best %.4f (ppl %.2f) at step %d\n",
			first.ValLoss, first.Step, s.BestValLoss, math.Exp(s.BestValLoss), s.BestValStep)
	}
	if s.KeptBest {
		fmt.Fprintf(w, "kept the best validated weights (step %d, --keep-best) as the result; the last step's are in the checkpoint\n", s.BestValStep)
	}
	fmt.Fprintf(w, "saved to: %s  checkpoint: %s\n", s.Out, s.Checkpoint)
	fmt.Fprintf(w, "metrics: %s  plot: %s\n", filepath.Join(s.Out, "metrics.jsonl"), filepath.Join(s.Out, "loss.png"))
}

// evaluate is the token-mean loss over the validation batches (the first n,
// or all when n is 0) and its perplexity.
func evaluate(task Task, valid []Batch, n, step int) (EvalRecord, error) {
	if n > 0 && n < len(valid) {
		valid = valid[:n]
	}
	var sum float64
	var tokens int
	for _, b := range valid {
		s, t := task.Eval(b.IDs, b.Targets, b.B, b.T)
		sum += s
		tokens += t
	}
	if tokens == 0 {
		return EvalRecord{}, fmt.Errorf("train: the validation set has no loss-bearing tokens")
	}
	l := sum / float64(tokens)
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return EvalRecord{}, fmt.Errorf("train: step %d: validation loss %v: %w", step, l, ErrNonFinite)
	}
	return EvalRecord{Step: step, ValLoss: l, ValPPL: math.Exp(l)}, nil
}

func checkParams(params []Param) error {
	if len(params) == 0 {
		return fmt.Errorf("train: nothing to train (the task has no trainable parameters)")
	}
	seen := map[string]bool{}
	for _, p := range params {
		switch {
		case p.Name == "":
			return fmt.Errorf("train: a trainable parameter has no name")
		case seen[p.Name]:
			return fmt.Errorf("train: parameter %s listed twice", p.Name)
		case p.W == nil || p.G == nil:
			return fmt.Errorf("train: parameter %s has no weight or gradient buffer", p.Name)
		case p.W.Len() != p.G.Len():
			return fmt.Errorf("train: parameter %s: weight %v but gradient %v", p.Name, p.W.Shape, p.G.Shape)
		}
		seen[p.Name] = true
	}
	return nil
}

// stepper computes one optimizer step's gradient: it draws GradAccum
// micro-batches, accumulates their token-weighted gradients and clips the
// global norm. Run and Bench share it.
type stepper struct {
	task    Task
	params  []Param
	rng     *rand.PCG
	maxNorm float64
	micro   []Batch
}

// step returns the step's token-mean loss, the gradient norm before
// clipping and the number of loss tokens.
func (sp *stepper) step(data Batches) (loss, norm float64, tokens int, err error) {
	for k := range sp.micro {
		b, err := data.Next()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("train: data: %w", err)
		}
		sp.micro[k] = b
		tokens += b.Tokens()
	}
	sp.task.ZeroGrad()
	for _, b := range sp.micro {
		// Weight each micro-batch by its share of the loss tokens so the
		// accumulated gradient is that of the token mean over the whole
		// step, however the tokens fall into micro-batches.
		w := 1 / float64(len(sp.micro))
		if tokens > 0 {
			w = float64(b.Tokens()) / float64(tokens)
		}
		if s, ok := sp.task.(Seeder); ok {
			s.Seed(sp.rng.Uint64())
		}
		l, _ := sp.task.Step(b.IDs, b.Targets, b.B, b.T, float32(w))
		loss += l * w
	}
	norm = clipGrads(sp.params, sp.maxNorm)
	return loss, norm, tokens, nil
}
