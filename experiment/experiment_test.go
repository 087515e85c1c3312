package experiment

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSmoke runs a tiny init sweep end to end and checks what a user gets:
// every run's done marker and adapter, results.csv with finite numbers,
// results.md, the PNGs; then that a second invocation skips finished runs
// and reruns one whose marker was removed.
func TestSmoke(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "smoke.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var log bytes.Buffer
	res, err := Execute(context.Background(), s, Options{Out: out, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(res) != 8 {
		t.Fatalf("got %d results, want 2 inits x 2 lrs x 2 seeds = 8", len(res))
	}
	for _, r := range res {
		for _, f := range []string{"result.json", "config.yaml", "metrics.jsonl", "adapter_model.safetensors", "adapter_config.json"} {
			if _, err := os.Stat(filepath.Join(out, "runs", r.ID, f)); err != nil {
				t.Errorf("run %s: %v", r.ID, err)
			}
		}
		if len(r.Curve) < 2 {
			t.Errorf("run %s: curve has %d points, want the step-0 and later evaluations", r.ID, len(r.Curve))
		}
	}
	f, err := os.Open(filepath.Join(out, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 9 {
		t.Fatalf("results.csv: %d rows, want header + 8", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, name := range []string{"base_val_loss", "final_val_loss", "best_val_loss", "val_perplexity", "test_loss", "test_perplexity"} {
		for _, row := range rows[1:] {
			v, err := strconv.ParseFloat(row[col[name]], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
				t.Errorf("results.csv %s %s = %q: want a finite positive number", row[0], name, row[col[name]])
			}
		}
	}
	// Different inits and seeds must give different runs (no shared state).
	if rows[1][col["final_val_loss"]] == rows[3][col["final_val_loss"]] && rows[1][col["final_val_loss"]] == rows[5][col["final_val_loss"]] {
		t.Errorf("final losses identical across runs: %v", rows)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), " ± ") || !strings.Contains(string(md), "| init_b | 0.01 |") {
		t.Errorf("results.md lacks mean ± interval rows:\n%s", md)
	}
	for _, want := range []string{"## Each configuration at its best lr", "## Paired differences against init=default", "| init_b | "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	for _, png := range []string{"loss-vs-lr.png", "curves.png"} {
		b, err := os.ReadFile(filepath.Join(out, png))
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s: not a PNG (%v)", png, err)
		}
	}

	// Resume: finished runs are skipped; a run without its marker reruns
	// and gives the same numbers (same seed, same data order).
	redo := res[3]
	if err := os.Remove(filepath.Join(out, "runs", redo.ID, "result.json")); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	res2, err := Execute(context.Background(), s, Options{Out: out, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), ": done ("); n != 7 {
		t.Errorf("second run skipped %d runs, want 7:\n%s", n, log.String())
	}
	if got, want := float64(res2[3].FinalValLoss), float64(redo.FinalValLoss); math.Abs(got-want) > 1e-9 {
		t.Errorf("rerun of %s: final loss %v, first run %v", redo.ID, got, want)
	}

	// Editing the shared settings must not reuse the old runs.
	s.Train["steps"] = 7
	if _, err := Execute(context.Background(), s, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("changed steps, same --out: error %v, want a refusal", err)
	}
}

// TestTaskMetrics trains one short run on each non-perplexity task and
// checks that the metric is a proportion and the class head is saved.
func TestTaskMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, tc := range []struct{ task, metric string }{
		{"quiz-qa", "exact_match"},
		{"continents", "accuracy"},
	} {
		t.Run(tc.task, func(t *testing.T) {
			s, err := Load(filepath.Join("testdata", "smoke.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			s.Task, s.Seeds, s.Plots = tc.task, 1, nil
			s.Axes = []Axis{{Key: "lr", Values: []any{1e-2}}}
			out := t.TempDir()
			res, err := Execute(context.Background(), s, Options{Out: out})
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if r.Metric != tc.metric || !(r.Value >= 0 && r.Value <= 1) {
				t.Errorf("metric %s = %v, want %s in [0, 1]", r.Metric, r.Value, tc.metric)
			}
			for name, v := range map[string]Num{"test": r.TestValue, "base test": r.BaseTestValue, "majority": r.Majority} {
				if !(v >= 0 && v <= 1) {
					t.Errorf("%s %s = %v, want a proportion", name, tc.metric, v)
				}
			}
			if min := map[string]Num{"exact_match": 0.02, "accuracy": 0.25}[tc.metric]; !(r.Majority >= min) {
				t.Errorf("majority baseline %v, want at least %v (the commonest answer's share)", r.Majority, min)
			}
			if tc.metric == "accuracy" {
				if _, err := os.Stat(filepath.Join(out, "runs", r.ID, "head.safetensors")); err != nil {
					t.Errorf("class head not saved: %v", err)
				}
				// The head must learn: the 4-way class loss falls.
				if first, last := float64(r.Curve[0].ValLoss), float64(r.FinalValLoss); !(last < first) {
					t.Errorf("class validation loss %v -> %v: did not fall", first, last)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no task", "axes: [{key: lr, values: [1]}]", "task"},
		{"unknown top key", "task: kjv-nt\nfoo: 1", "foo"},
		{"unknown train key", "task: kjv-nt\ntrain: {learning-rate: 1}", "learning-rate"},
		{"runner key", "task: kjv-nt\ntrain: {seed: 3}", "seed"},
		{"axis without values", "task: kjv-nt\naxes: [{key: lr}]", "no values"},
		{"bad axis value key", "task: kjv-nt\naxes: [{name: m, variants: [{label: x, set: {rank: 4}}]}]", "rank"},
		{"duplicate axis", "task: kjv-nt\naxes: [{key: lr, values: [1]}, {key: lr, values: [2]}]", "twice"},
		{"plot axis", "task: kjv-nt\naxes: [{key: lr, values: [1]}]\nplots: [{type: final, x: r}]", "not an axis"},
		{"plot type", "task: kjv-nt\nplots: [{type: pie}]", "pie"},
		{"quick axis", "task: kjv-nt\naxes: [{key: lr, values: [1]}]\nquick: {axes: [{key: r, values: [2]}]}", "no axis r"},
		{"metric", "task: kjv-nt\nmetric: bleu", "bleu"},
		// Issue 12 repro 7: nothing the YAML names may leave --out.
		{"plot file ../", "task: kjv-nt\naxes: [{key: lr, values: [1]}]\nplots: [{type: final, x: lr, file: ../../X.png}]", "not a path"},
		{"plot file absolute", "task: kjv-nt\naxes: [{key: lr, values: [1]}]\nplots: [{type: final, x: lr, file: /tmp/X.png}]", "not a path"},
		{"name ../", "name: ../../X\ntask: kjv-nt", "not a path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestBuiltinSweeps checks every embedded sweep parses, expands, and that
// --quick really is smaller.
func TestBuiltinSweeps(t *testing.T) {
	names := Builtin()
	for _, want := range []string{"init", "scale", "loraplus", "targets", "methods"} {
		if !containsStr(names, want) {
			t.Errorf("built-in sweep %s missing from %v", want, names)
		}
	}
	for _, n := range names {
		s, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		full, err := s.Runs()
		if err != nil {
			t.Fatal(err)
		}
		quick, err := s.WithQuick().Runs()
		if err != nil {
			t.Fatal(err)
		}
		if len(quick) >= len(full) && len(full) > 1 {
			t.Errorf("%s: --quick has %d runs, the full sweep %d", n, len(quick), len(full))
		}
		ids := map[string]bool{}
		for _, r := range full {
			if ids[r.ID] {
				t.Errorf("%s: run id %s twice", n, r.ID)
			}
			ids[r.ID] = true
			if err := r.Config.Validate(); err != nil {
				t.Errorf("%s %s: %v", n, r.ID, err)
			}
		}
	}
	// Every sweep where the step size confounds the question tunes lr over
	// a grid wide enough to bracket the optimum, in the full and the quick
	// versions.
	for _, n := range []string{"init", "scale", "loraplus", "targets", "methods", "width"} {
		s, _ := Load(n)
		for _, v := range []*Sweep{s, s.WithQuick()} {
			lrs := v.Axes[axisIndex(v, "lr")].Values
			lo, hi := lrs[0].(float64), lrs[len(lrs)-1].(float64)
			if v.tuneAxis() != "lr" || len(lrs) < 3 || hi/lo < 9 || (v == s && hi/lo < 100) {
				t.Errorf("%s: tunes %q over learning rates %v", n, v.tuneAxis(), lrs)
			}
		}
	}
	// The width ladder asks for the ratio of two best rates, so its grid
	// must resolve better than the factor 3 of the other sweeps.
	w, _ := Load("width")
	lrs := w.Axes[axisIndex(w, "lr")].Values
	for i := 1; i < len(lrs); i++ {
		if r := lrs[i].(float64) / lrs[i-1].(float64); r <= 1 || r > 2 {
			t.Errorf("width: learning rates %v step by %.2g between %v and %v, want at most 2", lrs, r, lrs[i-1], lrs[i])
		}
	}
}

func TestRunsExpansion(t *testing.T) {
	s, err := Parse([]byte(`
task: kjv-nt
seeds: 2
train: {r: 8, lr: 1.0e-3}
axes:
  - name: shape
    variants:
      - {label: narrow, set: {r: 2, targets: q}}
      - {label: wide, set: {r: 32, targets: "q,v"}}
  - key: lr
    values: [1.0e-4, 1.0e-2]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 8 {
		t.Fatalf("%d runs, want 2 x 2 x 2", len(runs))
	}
	first, last := runs[0], runs[7]
	if first.ID != "shape-narrow_lr-0.0001_seed-0" || first.Config.R != 2 || first.Config.LR != 1e-4 || strings.Join(first.Config.Targets, ",") != "q" {
		t.Errorf("first run %+v", first)
	}
	if last.ID != "shape-wide_lr-0.01_seed-1" || last.Config.R != 32 || last.Config.Seed != 1 || strings.Join(last.Config.Targets, ",") != "q,v" {
		t.Errorf("last run %+v", last)
	}
	if runs[1].Config.R != 2 || runs[1].Config.LR != 1e-4 || runs[1].Seed != 1 {
		t.Errorf("seeds must vary fastest: %+v", runs[1])
	}
}

func TestStat(t *testing.T) {
	for _, tc := range []struct {
		xs        []float64
		mean, std float64
		n         int
	}{
		{[]float64{1, 2, 3}, 2, 1, 3},
		{[]float64{5}, 5, 0, 1},
		{[]float64{1, math.NaN(), 3}, 2, math.Sqrt2, 2},
	} {
		s := stat(tc.xs)
		if s.N != tc.n || math.Abs(s.Mean-tc.mean) > 1e-12 || math.Abs(s.Std-tc.std) > 1e-12 {
			t.Errorf("stat(%v) = %+v, want mean %v std %v n %d", tc.xs, s, tc.mean, tc.std, tc.n)
		}
	}
	if s := stat([]float64{math.NaN()}); s.N != 0 || !math.IsNaN(s.Mean) {
		t.Errorf("all-NaN stat = %+v", s)
	}
}

// TestTaskSplits: every built-in task ships train, validation and test
// splits, and no held-out example is also a training or validation one.
func TestTaskSplits(t *testing.T) {
	for _, task := range Tasks {
		lines := map[string]map[string]bool{}
		for _, split := range []string{"train", "valid", "test"} {
			b, err := taskFS.ReadFile("tasks/" + task.Name + "/" + split + ".jsonl")
			if err != nil {
				t.Fatalf("%s: %v", task.Name, err)
			}
			lines[split] = map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				lines[split][l] = true
			}
			if len(lines[split]) < 20 {
				t.Errorf("%s/%s: %d distinct examples", task.Name, split, len(lines[split]))
			}
		}
		for l := range lines["test"] {
			if lines["train"][l] || lines["valid"][l] {
				t.Errorf("%s: test example also in train or valid: %.80s", task.Name, l)
			}
		}
		for l := range lines["valid"] {
			if lines["train"][l] {
				t.Errorf("%s: validation example also in train: %.80s", task.Name, l)
			}
		}
	}
}

// TestSweepSubsets checks the claim of the cut-down sweeps behind
// docs/EXPERIMENTS.md: every run is a run of the built-in sweep at 5 seeds,
// same id and same settings, so each command reuses (and `golora
// experiment NAME --seeds 5` completes) the others' runs.
func TestSweepSubsets(t *testing.T) {
	for name, files := range map[string][]string{
		"init":  {"init-full3.yaml", "init-full3-clip.yaml", "init-full5.yaml"},
		"width": {"width5.yaml"},
	} {
		full, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		full.Seeds = 5
		runs, err := full.Runs()
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]string{}
		for _, r := range runs {
			byID[r.ID] = settingsKey(r.Config)
		}
		for _, f := range files {
			s, err := Load(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			sub, err := s.Runs()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range sub {
				if key, ok := byID[r.ID]; !ok {
					t.Errorf("%s: run %s is not a run of the built-in %s sweep", f, r.ID, name)
				} else if key != settingsKey(r.Config) {
					t.Errorf("%s: run %s has other settings than the built-in one", f, r.ID)
				}
			}
			if len(sub) == 0 {
				t.Errorf("%s: no runs", f)
			}
		}
	}
}
