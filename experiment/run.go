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
	// FinalValLoss is the validation loss after the last step (NaN when
	// the run diverged).
	FinalValLoss Num          `json:"final_val_loss"`
	BestValLoss  Num          `json:"best_val_loss"`
	Metric       string       `json:"metric"`
	Value        Num          `json:"value"` // the task metric
	Diverged     bool         `json:"diverged"`
	DivergedNote string       `json:"diverged_note,omitempty"`
	Trainable    int          `json:"trainable_params"`
	Seconds      float64      `json:"seconds"`
	Curve        []CurvePoint `json:"curve"`
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
	logf := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", a...)
		}
	}
	runs, err := s.Runs()
	if err != nil {
		return nil, err
	}
	trainPath, validPath, err := s.taskFiles(opt.Out)
	if err != nil {
		return nil, err
	}
	modelPath, tok, err := s.basePath(opt.Out)
	if err != nil {
		return nil, err
	}
	if b, err := yaml.Marshal(s); err == nil {
		_ = atomicfile.WriteBytes(filepath.Join(opt.Out, "sweep.yaml"), b)
	}
	var results []Result
	for i, r := range runs {
		dir := filepath.Join(opt.Out, "runs", r.ID)
		r.Config.Model, r.Config.Data, r.Config.Valid, r.Config.Out = modelPath, trainPath, validPath, dir
		if err := sameConfig(dir, r.Config); err != nil {
			return results, err
		}
		if res, err := readResult(dir); err == nil {
			logf("[%d/%d] %s: done (final val loss %.4f, %s %.4f)", i+1, len(runs), r.ID, float64(res.FinalValLoss), res.Metric, float64(res.Value))
			results = append(results, *res)
			continue
		}
		if err := ctx.Err(); err != nil {
			return results, err
		}
		start := time.Now()
		res, err := runOne(ctx, s, r, tok)
		if err != nil {
			return results, fmt.Errorf("experiment: run %s: %w", r.ID, err)
		}
		res.Seconds = time.Since(start).Seconds()
		if err := writeResult(dir, res); err != nil {
			return results, err
		}
		note := ""
		if res.Diverged {
			note = " DIVERGED"
		}
		logf("[%d/%d] %s: final val loss %.4f, %s %.4f, %.0fs%s", i+1, len(runs), r.ID, float64(res.FinalValLoss), res.Metric, float64(res.Value), res.Seconds, note)
		results = append(results, *res)
	}
	if err := WriteReport(opt.Out, s, results); err != nil {
		return results, err
	}
	return results, nil
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
	// Paths may differ if the folder moved; the settings may not.
	key := func(c train.Config) string {
		c.Out, c.Model, c.Data, c.Valid, c.Resume = "", "", "", "", false
		b, _ := yaml.Marshal(c)
		return string(b)
	}
	if key(old) != key(cfg) {
		return fmt.Errorf("experiment: %s was run with other settings than the sweep now gives (see its config.yaml); use another --out or delete it", dir)
	}
	return nil
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
func runOne(ctx context.Context, s *Sweep, r Run, tok tokenizer.Full) (*Result, error) {
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
	res := &Result{ID: r.ID, Levels: r.Levels, Seed: r.Seed, Metric: metric}
	for _, p := range tr.Task.Params() {
		res.Trainable += p.W.Len() // known even if the run diverges
	}
	sum, err := tr.Run(ctx)
	if errors.Is(err, train.ErrNonFinite) {
		res.Diverged, res.DivergedNote = true, err.Error()
		nan := Num(math.NaN())
		res.FinalValLoss, res.BestValLoss, res.Value = nan, nan, nan
		if metric == "exact_match" || metric == "accuracy" {
			res.Value = 0 // a diverged model answers nothing right
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
	}
	switch metric {
	case "perplexity":
		res.Value = Num(math.Exp(float64(res.FinalValLoss)))
	case "exact_match":
		mt, ok := tr.Task.(*train.ModelTask)
		if !ok {
			return nil, fmt.Errorf("exact_match needs a model task, got %T", tr.Task)
		}
		v, err := exactMatch(mt, tok, cfg.Valid)
		if err != nil {
			return nil, err
		}
		res.Value = Num(v)
	case "accuracy":
		v, err := cls.accuracy(cfg.Valid, cfg.SeqLen)
		if err != nil {
			return nil, err
		}
		res.Value = Num(v)
	}
	return res, nil
}
