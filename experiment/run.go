package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tokenizer"
	"github.com/golora/golora/train"
	"github.com/golora/golora/train/lossplot"
)

// Num is a float64 that JSON-encodes NaN and ±Inf as null (a diverged run
// has no final loss) and decodes null back to NaN.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = Num(f)
	return err
}

// CurvePoint is one validation evaluation of a run.
type CurvePoint struct {
	Step    int `json:"step"`
	ValLoss Num `json:"val_loss"`
}

// Result is what one finished run leaves in runs/<id>/result.json, the
// done marker: it is written atomically after everything else, so a run
// without it is resumed or restarted, never half-counted.
type Result struct {
	ID     string   `json:"id"`
	Levels []string `json:"levels"`
	Seed   int      `json:"seed"`
	// BaseValLoss is the validation loss of the base model, before any
	// update (the step-0 evaluation): the divergence threshold's reference.
	BaseValLoss Num `json:"base_val_loss"`
	// FinalValLoss is the validation loss after the last step (NaN when
	// the run diverged).
	FinalValLoss Num    `json:"final_val_loss"`
	BestValLoss  Num    `json:"best_val_loss"`
	Metric       string `json:"metric"`
	Value        Num    `json:"value"` // the task metric on the validation split
	// TestLoss and TestValue score the final weights on the test split,
	// all of it (NaN without a test split).
	TestLoss  Num `json:"test_loss"`
	TestValue Num `json:"test_value"`
	// BaseTestValue is the test metric of the untuned model (exact match
	// and accuracy only: the class head starts as the LM's label rows) and
	// Majority the share of the commonest test answer: the two baselines a
	// tuned score must beat.
	BaseTestValue Num          `json:"base_test_value"`
	Majority      Num          `json:"majority"`
	Diverged      bool         `json:"diverged"`
	DivergedNote  string       `json:"diverged_note,omitempty"`
	Trainable     int          `json:"trainable_params"`
	Seconds       float64      `json:"seconds"`
	Curve         []CurvePoint `json:"curve"`
}

// Options are the runner's settings from the command line.
type Options struct {
	Out   string
	Quick bool
	Seeds int // > 0 overrides the sweep's
	// Log receives one line per run and the trainer's summary lines
	// (nil: silent). Each run's full log is runs/<id>/train.log.
	Log io.Writer
}

// Execute runs every run of the sweep that is not done yet, then writes
// the report. Cancelling ctx stops after the current run's checkpoint.
func Execute(ctx context.Context, s *Sweep, opt Options) ([]Result, error) {
	p, err := prepare(s, opt)
	if err != nil {
		return nil, err
	}
	if err := writeSweep(p.out, p.s); err != nil {
		return nil, err
	}
	var results []Result
	for i := range p.runs {
		res, err := p.run(ctx, i)
		if err != nil {
			return results, err
		}
		results = append(results, *res)
	}
	if err := WriteReport(opt.Out, p.s, results); err != nil {
		return results, err
	}
	return results, nil
}

// ExecuteRun runs only run index of the sweep (in Runs order), unless it is
// done, and writes nothing outside its runs/<id>/ folder: this is what one
// Slurm array task does, so tasks of one sweep never race.
func ExecuteRun(ctx context.Context, s *Sweep, opt Options, index int) (*Result, error) {
	p, err := prepare(s, opt)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= len(p.runs) {
		return nil, fmt.Errorf("experiment: --run-index %d: sweep %s has %d runs (0..%d)", index, p.s.Name, len(p.runs), len(p.runs)-1)
	}
	return p.run(ctx, index)
}

// prepared is a sweep ready to run: options applied, the grid expanded, the
// task data and base model in place under out.
type prepared struct {
	s    *Sweep
	out  string
	runs []Run
	tok  tokenizer.Full
	test string // the test split ("" if the task has none)
	logf func(format string, a ...any)
}

func prepare(s *Sweep, opt Options) (*prepared, error) {
	if opt.Quick {
		s = s.WithQuick()
	}
	if opt.Seeds > 0 {
		c := *s
		c.Seeds = opt.Seeds
		s = &c
	}
	if opt.Out == "" {
		return nil, errors.New("experiment: --out is required")
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "runs"), 0o755); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	p := &prepared{s: s, out: opt.Out, logf: func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", a...)
		}
	}}
	runs, err := s.Runs()
	if err != nil {
		return nil, err
	}
	trainPath, validPath, testPath, err := s.taskFiles(opt.Out)
	if err != nil {
		return nil, err
	}
	modelPath, tok, err := s.basePath(opt.Out)
	if err != nil {
		return nil, err
	}
	for i := range runs {
		c := &runs[i].Config
		c.Model, c.Data, c.Valid, c.Out = modelPath, trainPath, validPath, filepath.Join(opt.Out, "runs", runs[i].ID)
	}
	p.runs, p.tok, p.test = runs, tok, testPath
	if n := slurmThreads(s); n > 0 {
		p.logf("compute threads: %d (SLURM_CPUS_PER_TASK)", n)
	}
	return p, nil
}

// writeSweep records the sweep as run (--quick and --seeds applied) in
// out/sweep.yaml: collect and the Slurm array tasks read it back.
func writeSweep(out string, s *Sweep) error {
	b, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Errorf("experiment: sweep.yaml: %w", err)
	}
	return atomicfile.WriteBytes(filepath.Join(out, "sweep.yaml"), b)
}

// run trains run i unless its result.json says it is done.
func (p *prepared) run(ctx context.Context, i int) (*Result, error) {
	r := p.runs[i]
	dir := r.Config.Out
	if err := sameConfig(dir, r.Config); err != nil {
		return nil, err
	}
	if res, err := readResult(dir); err == nil {
		p.logf("[%d/%d] %s: done (final val loss %.4f, %s %.4f)", i+1, len(p.runs), r.ID, float64(res.FinalValLoss), res.Metric, float64(res.Value))
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := runOne(ctx, p.s, r, p.tok, p.test)
	if err != nil {
		return nil, fmt.Errorf("experiment: run %s: %w", r.ID, err)
	}
	res.Seconds = time.Since(start).Seconds()
	if err := writeResult(dir, res); err != nil {
		return nil, err
	}
	note := ""
	if res.Diverged {
		note = " DIVERGED"
	}
	p.logf("[%d/%d] %s: final val loss %.4f, %s %.4f, %.0fs%s", i+1, len(p.runs), r.ID, float64(res.FinalValLoss), res.Metric, float64(res.Value), res.Seconds, note)
	return res, nil
}

// sameConfig refuses to reuse a run folder made with other settings: run
// ids name only the axis levels, so after an edit of the sweep's train keys
// an old result would otherwise be counted as the new one.
func sameConfig(dir string, cfg train.Config) error {
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return nil // a new run
	}
	var old train.Config
	if err := yaml.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("experiment: %s: %w", filepath.Join(dir, "config.yaml"), err)
	}
	if settingsKey(old) != settingsKey(cfg) {
		return fmt.Errorf("experiment: %s was run with other settings than the sweep now gives (see its config.yaml); use another --out or delete it", dir)
	}
	return nil
}

// settingsKey is a run's settings without its paths: paths may differ if
// the folder moved; the settings may not.
func settingsKey(c train.Config) string {
	c.Out, c.Model, c.Data, c.Valid, c.Resume = "", "", "", "", false
	b, _ := yaml.Marshal(c)
	return string(b)
}

func readResult(dir string) (*Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "result.json"), err)
	}
	return &r, nil
}

func writeResult(dir string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dir, "result.json"), append(b, '\n'))
}

// runOne trains one run with the ordinary engine (resuming its checkpoint
// if an earlier attempt was interrupted) and scores the task metric.
func runOne(ctx context.Context, s *Sweep, r Run, tok tokenizer.Full, testPath string) (*Result, error) {
	cfg := r.Config
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	if b, err := yaml.Marshal(cfg); err == nil {
		if err := atomicfile.WriteBytes(filepath.Join(cfg.Out, "config.yaml"), b); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "checkpoints")); err == nil {
		cfg.Resume = true
	}
	logFile, err := os.OpenFile(filepath.Join(cfg.Out, "train.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	tr, err := train.Setup(cfg, tok, func(format string, a ...any) { fmt.Fprintf(logFile, format+"\n", a...) })
	if err != nil {
		return nil, err
	}
	tr.Log = logFile
	tr.Plot = lossplot.Write
	metric := s.metric()
	var cls *classTask
	if metric == "accuracy" {
		mt, ok := tr.Task.(*train.ModelTask)
		if !ok {
			return nil, fmt.Errorf("accuracy needs a model task, got %T", tr.Task)
		}
		if cls, err = newClassTask(mt, tok, s.labels(), cfg.Data); err != nil {
			return nil, err
		}
		tr.Task = cls
	}
	nan := Num(math.NaN())
	res := &Result{ID: r.ID, Levels: r.Levels, Seed: r.Seed, Metric: metric, BaseValLoss: nan, TestLoss: nan, TestValue: nan,
		BaseTestValue: nan, Majority: nan}
	for _, p := range tr.Task.Params() {
		res.Trainable += p.W.Len() // known even if the run diverges
	}
	// The metric of the weights as they are: on the validation split
	// (where the report chooses settings) and on the test split (what it
	// reports).
	score := func(path string, loss float64) (float64, error) {
		switch metric {
		case "exact_match":
			mt, ok := tr.Task.(*train.ModelTask)
			if !ok {
				return 0, fmt.Errorf("exact_match needs a model task, got %T", tr.Task)
			}
			return exactMatch(mt, tok, path)
		case "accuracy":
			return cls.accuracy(path, cfg.SeqLen)
		}
		return math.Exp(loss), nil
	}
	if metric != "perplexity" && testPath != "" {
		if res.Majority, err = majority(testPath, tok); err != nil {
			return nil, err
		}
		if !cfg.Resume { // before any update: the base's score
			v, err := score(testPath, 0)
			if err != nil {
				return nil, err
			}
			res.BaseTestValue = Num(v)
		}
	}
	sum, err := tr.Run(ctx)
	if errors.Is(err, train.ErrNonFinite) || errors.Is(err, train.ErrDiverged) {
		res.Diverged, res.DivergedNote = true, err.Error()
		res.FinalValLoss, res.BestValLoss, res.Value = nan, nan, nan
		if metric == "exact_match" || metric == "accuracy" {
			res.Value = 0 // a diverged model answers nothing right
			if testPath != "" {
				res.TestValue = 0
			}
		}
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.BestValLoss = Num(sum.BestValLoss)
	res.FinalValLoss = Num(math.NaN())
	for _, e := range sum.History.Evals {
		res.Curve = append(res.Curve, CurvePoint{e.Step, Num(e.ValLoss)})
	}
	if n := len(sum.History.Evals); n > 0 {
		res.FinalValLoss = Num(sum.History.Evals[n-1].ValLoss)
		if e := sum.History.Evals[0]; e.Step == 0 {
			res.BaseValLoss = Num(e.ValLoss)
		}
	}
	v, err := score(cfg.Valid, float64(res.FinalValLoss))
	if err != nil {
		return nil, err
	}
	res.Value = Num(v)
	if testPath != "" {
		batches, err := train.LoadHeldOut(cfg, testPath, tok)
		if err != nil {
			return nil, err
		}
		l, err := train.EvaluateTask(tr.Task, batches)
		if err != nil {
			return nil, fmt.Errorf("test split %s: %w", testPath, err)
		}
		if v, err = score(testPath, l); err != nil {
			return nil, err
		}
		res.TestLoss, res.TestValue = Num(l), Num(v)
	}
	return res, nil
}
