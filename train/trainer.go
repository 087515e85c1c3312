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

	"github.com/golora/golora/data"
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
	Valid  []data.Batch // nil: no evaluation
	// Log receives progress and the summary (default os.Stdout); a terminal
	// gets a live progress line, anything else plain log lines.
	Log io.Writer
	// OnStep and OnEval, when set, see every record as it is logged.
	OnStep func(StepRecord)
	OnEval func(EvalRecord)

	// The parts of a run besides the training itself, which a program
	// embedding the engine may leave out. Run always writes the adapter
	// (Task.SaveAdapter) to Config.Out, and a lock file while it runs.
	//
	// NoCheckpoints writes no checkpoints/: no Config.Resume, no checkpoint
	// on cancellation, and Config.KeepBest keeps the best weights in memory.
	NoCheckpoints bool
	// NoMetrics writes no metrics.jsonl (OnStep and OnEval still see every
	// record).
	NoMetrics bool
	// Plot, when set, draws the loss curves to Config.Out/loss.png after
	// every checkpoint and at the end. golora sets train/lossplot.Write;
	// the engine itself links no plotting library.
	Plot func(path string, h History) error
}

// Summary is the outcome of a run.
type Summary struct {
	Steps           int
	Tokens          int64 // loss-bearing target tokens trained on
	Elapsed         time.Duration
	TrainableParams int
	TotalParams     int // 0 when the task does not say
	FinalLoss       float64
	BestValLoss     float64 // NaN without a validation set
	BestValStep     int
	Out             string
	Checkpoint      string // "" with NoCheckpoints
	Metrics, Plot   string // the files written, "" when left out
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
// loss.png (unless left out, see Trainer), and prints a summary. Cancelling
// ctx stops after the current step and writes a checkpoint first, so Ctrl-C
// loses nothing.
func (tr *Trainer) Run(ctx context.Context) (*Summary, error) {
	r, err := tr.start()
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.loop(ctx); err != nil {
		return nil, err
	}
	return r.finish()
}

// run is the state of one Run: the steps below share it.
type run struct {
	*Trainer
	cfg       Config
	log       io.Writer
	params    []Param
	opt       *adamW
	rng       *rand.PCG
	st        State
	total     int
	pr        *progress
	mw        *metricsWriter // nil with NoMetrics
	guard     *divergence
	best      map[string][]float32 // --keep-best's weights with NoCheckpoints
	lastSaved int                  // step of the newest checkpoint, -1: none
	unlock    func()
	runStart  time.Time
	elapsed0  float64 // seconds of training before this process (resumed)
}

// start checks the settings, takes the run folder and restores the latest
// checkpoint when resuming.
func (tr *Trainer) start() (*run, error) {
	cfg := tr.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tr.NoCheckpoints && cfg.Resume {
		return nil, fmt.Errorf("train: --resume needs checkpoints (Trainer.NoCheckpoints is set)")
	}
	r := &run{Trainer: tr, cfg: cfg, log: tr.Log, lastSaved: -1}
	if r.log == nil {
		r.log = os.Stdout
	}
	if cfg.Threads > 0 {
		kernels.SetThreads(cfg.Threads)
	}
	r.params = tr.Task.Params()
	if err := checkParams(r.params); err != nil {
		return nil, err
	}
	var err error
	if r.total, err = tr.totalSteps(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: --out: %w", err)
	}
	r.opt = newAdamW(cfg, r.params)
	r.rng = rand.NewPCG(uint64(cfg.Seed), 0x70c3a2b1d5e6f708)
	r.st = State{Version: stateVersion, Config: cfg, TotalSteps: r.total}
	r.pr = &progress{w: r.log, tty: isTerminal(r.log), total: r.total}
	if r.unlock, err = lockRun(cfg.Out, r.pr.line); err != nil {
		return nil, err
	}
	if err := r.resumeOrFresh(); err != nil {
		r.close()
		return nil, err
	}
	r.pr.start = r.st.Step
	r.pr.logEvery = cfg.LogEvery
	if r.pr.logEvery == 0 {
		r.pr.logEvery = max(1, r.total/50)
	}
	if !tr.NoMetrics {
		if r.mw, err = openMetrics(filepath.Join(cfg.Out, metricsFile), r.st.History); err != nil {
			r.close()
			return nil, err
		}
	}
	if r.st.Step > 0 {
		r.lastSaved = r.st.Step // resumed: that checkpoint exists
	}
	r.runStart, r.elapsed0 = time.Now(), r.st.ElapsedS
	r.guard = r.newGuard()
	return r, nil
}

// newGuard is the divergence guard, primed with a resumed run's history.
func (r *run) newGuard() *divergence {
	g := &divergence{threshold: r.cfg.DivergenceThreshold, patience: r.cfg.DivergenceSteps}
	if vs, ok := r.Task.(VocabSizer); ok && vs.VocabSize() > 1 {
		g.lnVocab = math.Log(float64(vs.VocabSize()))
	}
	for _, s := range r.st.History.Steps {
		g.observe(s.Step, s.Loss, s.GradNorm, r.st.History.Steps[0].Loss)
	}
	return g
}

const metricsFile, plotFile = "metrics.jsonl", "loss.png"

// totalSteps is Config.Steps, or the optimizer steps of Config.Epochs.
func (tr *Trainer) totalSteps() (int, error) {
	cfg := tr.Config
	if cfg.Epochs == 0 {
		return cfg.Steps, nil
	}
	ep, ok := tr.Train.(Epocher)
	if !ok {
		return 0, fmt.Errorf("train: --epochs needs a data stream that knows its epoch length; use --steps")
	}
	return max(1, int(math.Ceil(cfg.Epochs*float64(ep.BatchesPerEpoch())/float64(cfg.GradAccum)))), nil
}

func (r *run) close() {
	if r.mw != nil {
		r.mw.Close()
	}
	r.unlock()
}

// resumeOrFresh restores the latest checkpoint when resuming, or else makes
// sure the folder holds no earlier run that would be overwritten unasked.
func (r *run) resumeOrFresh() error {
	cfg := r.cfg
	if cfg.Resume {
		ck, warn, err := loadLatest(cfg.Out)
		switch {
		case errors.Is(err, ErrNoCheckpoint):
			r.pr.line("note: no checkpoint in %s yet; starting from step 0", filepath.Join(cfg.Out, checkpointsDir))
		case err != nil:
			return err
		default:
			if warn != "" {
				r.pr.line("warning: %s", warn)
			}
			return r.restore(ck)
		}
	}
	if old := existingRun(cfg.Out); old != "" && !cfg.Overwrite {
		how := "continue it with --resume or replace it with --overwrite"
		if cfg.Resume {
			how = "it has no checkpoint to resume; replace it with --overwrite"
		}
		return fmt.Errorf("train: --out %s already holds a run (%s); %s: %w", cfg.Out, old, how, ErrRunExists)
	} else if old != "" {
		r.pr.line("note: --overwrite: replacing the run in %s (%s)", cfg.Out, old)
	}
	if err := os.RemoveAll(filepath.Join(cfg.Out, checkpointsDir)); err != nil {
		return fmt.Errorf("train: clearing old checkpoints: %w", err)
	}
	return nil
}

// restore continues from checkpoint ck exactly: weights, moments, RNG, data
// position, task state and history.
func (r *run) restore(ck *checkpoint) error {
	if diff := incompatible(ck.State.Config, r.cfg); len(diff) > 0 {
		return fmt.Errorf("train: --resume from %s with different settings:\n  %s", ck.Dir, strings.Join(diff, "\n  "))
	}
	if err := ck.restore(r.params, r.opt); err != nil {
		return err
	}
	if err := r.rng.UnmarshalBinary(ck.State.RNG); err != nil {
		return fmt.Errorf("train: checkpoint %s: rng: %w", ck.Dir, err)
	}
	if err := r.Train.Restore(ck.State.Data); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", ck.Dir, err)
	}
	if ts, ok := r.Task.(TaskStater); ok {
		if err := ts.RestoreTaskState(ck.State.Task); err != nil {
			return fmt.Errorf("train: checkpoint %s: %w", ck.Dir, err)
		}
	}
	r.st.Step, r.st.Tokens, r.st.ElapsedS, r.st.History = ck.State.Step, ck.State.Tokens, ck.State.ElapsedS, ck.State.History
	r.pr.line("resumed from %s (step %d of %d)", ck.Dir, r.st.Step, r.total)
	return nil
}

func (r *run) elapsed() float64 { return r.elapsed0 + time.Since(r.runStart).Seconds() }

// loop trains step by step, evaluating and checkpointing on schedule, until
// the last step, an error, or cancellation.
func (r *run) loop(ctx context.Context) error {
	cfg := r.cfg
	if r.st.Step == 0 && len(r.st.History.Evals) == 0 {
		if err := r.eval(); err != nil {
			return err
		}
	}
	sp := &stepper{task: r.Task, params: r.params, rng: r.rng, maxNorm: cfg.MaxGradNorm, micro: make([]data.Batch, cfg.GradAccum)}
	savePending := false // a save point fell in a run of bad steps
	r.pr.t0 = time.Now()
	for r.st.Step < r.total {
		if ctx.Err() != nil {
			return r.interrupted(ctx)
		}
		if err := r.step(sp); err != nil {
			return err
		}
		if r.st.Step == r.total {
			break
		}
		if cfg.EvalEvery > 0 && r.st.Step%cfg.EvalEvery == 0 {
			if err := r.eval(); err != nil {
				return err
			}
		}
		// No checkpoint while steps look diverged: pruning could otherwise
		// replace the last good one by bad weights.
		if savePending = savePending || (cfg.SaveEvery > 0 && r.st.Step%cfg.SaveEvery == 0); savePending && r.guard.bad == 0 {
			if _, err := r.save(); err != nil {
				return err
			}
			savePending = false
		}
	}
	return nil
}

// interrupted checkpoints a cancelled run (unless that step is saved
// already) and returns the error Run reports.
func (r *run) interrupted(ctx context.Context) error {
	if r.NoCheckpoints {
		r.pr.endLine()
		return &Interrupted{Step: r.st.Step, Err: ctx.Err()}
	}
	if r.lastSaved != r.st.Step {
		if _, err := r.save(); err != nil {
			return errors.Join(ctx.Err(), err)
		}
	}
	r.pr.endLine()
	return &Interrupted{Step: r.st.Step, Checkpoint: r.lastGood(), Err: ctx.Err()}
}

// step runs one optimizer step and logs it; it stops the run on a
// non-finite loss or gradient before the update, and on divergence after.
func (r *run) step(sp *stepper) error {
	cfg := r.cfg
	stepStart := time.Now()
	loss, norm, tokens, err := sp.step(r.Train)
	if err != nil {
		return err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		r.pr.endLine()
		return fmt.Errorf("train: step %d: loss %v, gradient norm %v: %w; training stopped before updating the weights. "+
			"Last good checkpoint: %s. Hint: lower --lr, set --max-grad-norm, or check the data", r.st.Step+1, loss, norm, ErrNonFinite, r.lastGood())
	}
	lr := lrAt(cfg.Schedule, cfg.LR, cfg.Warmup, r.total, r.st.Step+1)
	r.opt.step(r.st.Step+1, lr)
	r.st.Step++
	r.st.Tokens += int64(tokens)
	dt := time.Since(stepStart).Seconds()
	rec := StepRecord{Step: r.st.Step, Loss: loss, LR: lr, GradNorm: norm, Tokens: tokens, TokensPerS: float64(tokens) / max(dt, 1e-9), ElapsedS: r.elapsed()}
	r.st.History.Steps = append(r.st.History.Steps, rec)
	if err := r.record(rec); err != nil {
		return err
	}
	if r.OnStep != nil {
		r.OnStep(rec)
	}
	r.pr.step(rec, dt)
	if r.guard.observe(r.st.Step, loss, norm, r.st.History.Steps[0].Loss) {
		r.pr.endLine()
		return fmt.Errorf("train: step %d: %s for %d steps in a row (--divergence-threshold %g, --divergence-steps %d): %w; "+
			"training stopped and the diverged weights were not saved. Last good checkpoint: %s. Hint: lower --lr, or set --divergence-threshold 0 to turn the guard off",
			r.st.Step, r.guard.reason, r.guard.patience, cfg.DivergenceThreshold, cfg.DivergenceSteps, ErrDiverged, r.lastGood())
	}
	return nil
}

// record appends a step or eval record to metrics.jsonl.
func (r *run) record(rec any) error {
	if r.mw == nil {
		return nil
	}
	if err := r.mw.add(rec); err != nil {
		return fmt.Errorf("train: metrics: %w", err)
	}
	return nil
}

// lastGood names the newest checkpoint for error messages.
func (r *run) lastGood() string {
	if b, err := os.ReadFile(filepath.Join(r.cfg.Out, checkpointsDir, latestFile)); err == nil {
		return filepath.Join(r.cfg.Out, checkpointsDir, strings.TrimSpace(string(b)))
	}
	return "none (no checkpoint was written yet)"
}

// eval scores the validation set, keeping the best weights with --keep-best.
func (r *run) eval() error {
	if r.Valid == nil {
		return nil
	}
	rec, err := evaluate(r.Task, r.Valid, r.cfg.EvalBatches, r.st.Step)
	if err != nil {
		return err
	}
	if best, ok := bestEval(r.st.History); r.cfg.KeepBest && (!ok || rec.ValLoss < best.ValLoss) {
		if err := r.keepBest(rec); err != nil {
			return fmt.Errorf("train: --keep-best: %w", err)
		}
	}
	r.st.History.Evals = append(r.st.History.Evals, rec)
	if err := r.record(rec); err != nil {
		return err
	}
	if r.OnEval != nil {
		r.OnEval(rec)
	}
	r.pr.line("step %d/%d  val_loss %.4f  val_ppl %.2f", rec.Step, r.total, rec.ValLoss, rec.ValPPL)
	return nil
}

// keepBest stores the weights of evaluation rec: in the checkpoints folder,
// or in memory without checkpoints.
func (r *run) keepBest(rec EvalRecord) error {
	if !r.NoCheckpoints {
		return saveBest(r.cfg.Out, r.params, rec)
	}
	if r.best == nil {
		r.best = map[string][]float32{}
	}
	for _, p := range r.params {
		r.best[p.Name] = append(r.best[p.Name][:0], p.W.Data...)
	}
	return nil
}

// restoreBest puts the weights of the best evaluation back.
func (r *run) restoreBest(best EvalRecord) error {
	if !r.NoCheckpoints {
		return restoreBest(r.cfg.Out, r.params, best)
	}
	for _, p := range r.params {
		copy(p.W.Data, r.best[p.Name])
	}
	return nil
}

// save writes a checkpoint (with NoCheckpoints, nothing) and redraws the
// plot, so a run that dies later still has one.
func (r *run) save() (string, error) {
	dir := ""
	if !r.NoCheckpoints {
		var err error
		if dir, err = r.checkpoint(); err != nil {
			return "", err
		}
	}
	r.plot()
	r.lastSaved = r.st.Step
	return dir, nil
}

// checkpoint writes the state of the current step under checkpoints/.
func (r *run) checkpoint() (string, error) {
	st := &r.st
	st.ElapsedS = r.elapsed()
	st.Config = r.cfg
	st.TotalSteps = r.total
	var err error
	if st.RNG, err = r.rng.MarshalBinary(); err != nil {
		return "", err
	}
	if st.Data, err = r.Train.State(); err != nil {
		return "", fmt.Errorf("train: data state: %w", err)
	}
	if ts, ok := r.Task.(TaskStater); ok {
		if st.Task, err = ts.TaskState(); err != nil {
			return "", fmt.Errorf("train: task state: %w", err)
		}
	}
	return saveCheckpoint(r.cfg.Out, st, r.params, r.opt, r.Task, r.cfg.KeepCkpts)
}

// plot draws loss.png when a Plot is set; a failure is only a warning.
func (r *run) plot() {
	if r.Plot == nil {
		return
	}
	if err := r.Plot(filepath.Join(r.cfg.Out, plotFile), r.st.History); err != nil {
		r.pr.line("warning: %v", err)
	}
}

// finish evaluates and checkpoints the last step, puts the best weights
// back with --keep-best, saves the adapter and prints the summary.
func (r *run) finish() (*Summary, error) {
	cfg, st := r.cfg, &r.st
	if n := len(st.History.Evals); n == 0 || st.History.Evals[n-1].Step != st.Step {
		if err := r.eval(); err != nil {
			return nil, err
		}
	}
	sum := &Summary{Steps: st.Step, Tokens: st.Tokens, Out: cfg.Out, History: st.History, BestValLoss: math.NaN()}
	if !r.NoCheckpoints {
		sum.Checkpoint = filepath.Join(cfg.Out, checkpointsDir, stepName(st.Step))
	}
	if r.lastSaved != st.Step {
		if _, err := r.save(); err != nil {
			return nil, err
		}
	}
	if best, ok := bestEval(st.History); cfg.KeepBest && ok && best.Step != st.Step {
		if err := r.restoreBest(best); err != nil {
			r.pr.line("warning: --keep-best: %v; saving the last step's weights", err)
		} else {
			sum.KeptBest = true
		}
	}
	if err := r.Task.SaveAdapter(cfg.Out); err != nil {
		return nil, fmt.Errorf("train: saving the adapter to %s: %w", cfg.Out, err)
	}
	r.plot()
	r.fillSummary(sum)
	r.pr.endLine()
	sum.Print(r.log)
	return sum, nil
}

// fillSummary adds the time, the files written, the parameter counts and
// the losses to sum.
func (r *run) fillSummary(sum *Summary) {
	sum.Elapsed = time.Duration(r.elapsed() * float64(time.Second))
	if !r.NoMetrics {
		sum.Metrics = filepath.Join(r.cfg.Out, metricsFile)
	}
	if r.Plot != nil {
		sum.Plot = filepath.Join(r.cfg.Out, plotFile)
	}
	for _, p := range r.params {
		sum.TrainableParams += p.W.Len()
	}
	if pc, ok := r.Task.(ParamCounter); ok {
		sum.TotalParams = pc.NumParams()
	}
	if n := len(r.st.History.Steps); n > 0 {
		sum.FinalLoss = r.st.History.Steps[n-1].Loss
	}
	for _, e := range r.st.History.Evals {
		if math.IsNaN(sum.BestValLoss) || e.ValLoss < sum.BestValLoss {
			sum.BestValLoss, sum.BestValStep = e.ValLoss, e.Step
		}
	}
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
	fmt.Fprintf(w, "steps: %d  loss tokens: %d  time: %s  (%.0f loss tok/s)  peak memory: %.0f MiB\n",
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
	saved := "saved to: " + s.Out
	if s.Checkpoint != "" {
		saved += "  checkpoint: " + s.Checkpoint
	}
	fmt.Fprintln(w, saved)
	var files []string
	if s.Metrics != "" {
		files = append(files, "metrics: "+s.Metrics)
	}
	if s.Plot != "" {
		files = append(files, "plot: "+s.Plot)
	}
	if len(files) > 0 {
		fmt.Fprintln(w, strings.Join(files, "  "))
	}
}

// evaluate is the token-mean loss over the validation batches (the first n,
// or all when n is 0) and its perplexity.
func evaluate(task Task, valid []data.Batch, n, step int) (EvalRecord, error) {
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
	micro   []data.Batch
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
		tokens += b.LossTokens
	}
	sp.task.ZeroGrad()
	for _, b := range sp.micro {
		// Weight each micro-batch by its share of the loss tokens so the
		// accumulated gradient is that of the token mean over the whole
		// step, however the tokens fall into micro-batches.
		w := 1 / float64(len(sp.micro))
		if tokens > 0 {
			w = float64(b.LossTokens) / float64(tokens)
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
