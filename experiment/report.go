package experiment

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/golora/golora/internal/atomicfile"
)

// Group is one grid point: the runs of every seed with the same levels.
type Group struct {
	Levels []string
	Runs   []Result
	// Loss is the final validation loss and Value the task metric on the
	// validation split; TestLoss and TestValue the same on the test split.
	// Non-finite losses (a run that blew up) are left out; a blown-up run
	// scores 0 on exact match and accuracy.
	Loss, Value, TestLoss, TestValue Stat
	// Diverged counts runs that blew up or ended above the sweep's
	// divergence threshold (see Sweep.DivergeAbove).
	Diverged int
}

// Groups collects results by grid point, in the order first seen, with the
// default divergence threshold (final loss above the base's).
func Groups(results []Result) []Group { return groups(results, 1) }

func groups(results []Result, divergeAbove float64) []Group {
	var gs []Group
	idx := map[string]int{}
	for _, r := range results {
		k := strings.Join(r.Levels, "\x00")
		i, ok := idx[k]
		if !ok {
			i = len(gs)
			idx[k] = i
			gs = append(gs, Group{Levels: r.Levels})
		}
		gs[i].Runs = append(gs[i].Runs, r)
	}
	for i := range gs {
		g := &gs[i]
		g.Loss, g.Value = stat(field(g.Runs, valLoss)), stat(field(g.Runs, valValue))
		g.TestLoss, g.TestValue = stat(field(g.Runs, testLoss)), stat(field(g.Runs, testValue))
		for _, r := range g.Runs {
			if diverged(r, divergeAbove) {
				g.Diverged++
			}
		}
	}
	return gs
}

func valLoss(r Result) Num   { return r.FinalValLoss }
func valValue(r Result) Num  { return r.Value }
func testLoss(r Result) Num  { return r.TestLoss }
func testValue(r Result) Num { return r.TestValue }

// field lists one number of each run, in seed order (for pairing).
func field(runs []Result, f func(Result) Num) []float64 {
	rs := append([]Result(nil), runs...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Seed < rs[j].Seed })
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = float64(f(r))
	}
	return out
}

// diverged is the report's definition: the run blew up (non-finite loss or
// train's divergence guard), or its final validation loss is above factor
// times the base model's (the step-0 evaluation, before any update): the
// tuning made the model worse than not tuning at all.
func diverged(r Result, factor float64) bool {
	if r.Diverged {
		return true
	}
	base := float64(r.BaseValLoss)
	return factor > 0 && finite(base) && float64(r.FinalValLoss) > factor*base
}

// WriteReport writes results.csv, results.md and the sweep's plots into out.
func WriteReport(out string, s *Sweep, results []Result) error {
	if err := atomicfile.WriteFile(filepath.Join(out, "results.csv"), func(w io.Writer) error { return writeCSV(w, s, results) }); err != nil {
		return fmt.Errorf("experiment: results.csv: %w", err)
	}
	gs := groups(results, s.divergeAbove())
	var plots []string
	for i, p := range s.Plots {
		name := p.File
		if name == "" {
			name = fmt.Sprintf("%s-%d-%s.png", s.Name, i, p.Type)
		}
		if !plainName(name) { // Parse refuses these; a Sweep built in code might not
			return fmt.Errorf("experiment: plot file %.80q would leave %s", name, out)
		}
		fig, err := buildFigure(s, p, gs)
		if err != nil {
			return fmt.Errorf("experiment: %s: %w", name, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(out, name), fig.writePNG); err != nil {
			return fmt.Errorf("experiment: %s: %w", name, err)
		}
		plots = append(plots, name)
	}
	md := markdown(s, gs, plots)
	if err := atomicfile.WriteBytes(filepath.Join(out, "results.md"), []byte(md)); err != nil {
		return fmt.Errorf("experiment: results.md: %w", err)
	}
	return nil
}

func fmtNum(f Num) string {
	if !finite(float64(f)) {
		return "NaN"
	}
	return strconv.FormatFloat(float64(f), 'g', 6, 64)
}

func writeCSV(w io.Writer, s *Sweep, results []Result) error {
	cw := csv.NewWriter(w)
	head := []string{"run"}
	for _, a := range s.Axes {
		head = append(head, a.AxisName())
	}
	m := s.metric()
	head = append(head, "seed", "base_val_loss", "final_val_loss", "best_val_loss", "val_"+m, "test_loss", "test_"+m,
		"diverged", "trainable_params", "seconds")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range results {
		row := append([]string{r.ID}, r.Levels...)
		row = append(row, strconv.Itoa(r.Seed), fmtNum(r.BaseValLoss), fmtNum(r.FinalValLoss), fmtNum(r.BestValLoss),
			fmtNum(r.Value), fmtNum(r.TestLoss), fmtNum(r.TestValue), strconv.FormatBool(diverged(r, s.divergeAbove())),
			strconv.Itoa(r.Trainable), strconv.FormatFloat(r.Seconds, 'f', 1, 64))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Tuned is one configuration (the levels of every axis but the tuned one)
// at its own best level of the tuned axis, chosen on validation.
type Tuned struct {
	Best *Group
	// Edge is "" when the best level has a neighbour on both sides in the
	// grid, else "lowest" or "highest": the optimum may lie outside.
	Edge string
}

// better reports whether g beats h on validation: the lower final loss
// for perplexity, else the higher metric (ties: the lower loss).
func better(metric string, g, h *Group) bool {
	if metric != "perplexity" && g.Value.Mean != h.Value.Mean {
		return g.Value.Mean > h.Value.Mean
	}
	return g.Loss.Mean < h.Loss.Mean
}

// tune picks, for each configuration, the level of axis ti with the best
// validation result; a level where every seed blew up is never chosen.
func tune(s *Sweep, gs []Group, ti int) []Tuned {
	var out []Tuned
	idx := map[string]int{}
	pos := map[string]int{}
	if ti >= 0 {
		for i, l := range levelsOf(s, ti) {
			pos[l] = i
		}
	}
	for i := range gs {
		g := &gs[i]
		key := otherLevels(g.Levels, ti)
		j, ok := idx[key]
		if !ok {
			j = len(out)
			idx[key] = j
			out = append(out, Tuned{})
		}
		if g.Loss.N == 0 {
			continue
		}
		if b := out[j].Best; b == nil || better(s.metric(), g, b) {
			out[j].Best = g
		}
	}
	if ti < 0 {
		return out
	}
	n := len(levelsOf(s, ti))
	for i := range out {
		if b := out[i].Best; b != nil && n > 1 {
			switch pos[b.Levels[ti]] {
			case 0:
				out[i].Edge = "lowest"
			case n - 1:
				out[i].Edge = "highest"
			}
		}
	}
	return out
}

// otherLevels is a grid point's key without the levels of the axes skip.
func otherLevels(levels []string, skip ...int) string {
	var k []string
	for i, l := range levels {
		if !containsInt(skip, i) {
			k = append(k, l)
		}
	}
	return strings.Join(k, "\x00")
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Comparison is one configuration against the reference level of the
// compare axis, both at their own tuned level, paired by seed on test.
type Comparison struct {
	Levels      []string // the configuration (tuned axis level is its own)
	Ref         *Group
	Loss, Value Paired // test loss and test metric, this − reference
}

// compare pairs every tuned configuration whose compare-axis level is not
// the first with the tuned configuration that differs only there.
func compare(s *Sweep, tuned []Tuned, ti, ci int) []Comparison {
	if ci < 0 {
		return nil
	}
	ref := levelsOf(s, ci)[0]
	refs := map[string]*Group{}
	for _, t := range tuned {
		if t.Best != nil && t.Best.Levels[ci] == ref {
			refs[otherLevels(t.Best.Levels, ti, ci)] = t.Best
		}
	}
	var out []Comparison
	for _, t := range tuned {
		if t.Best == nil || t.Best.Levels[ci] == ref {
			continue
		}
		r := refs[otherLevels(t.Best.Levels, ti, ci)]
		if r == nil {
			continue
		}
		out = append(out, Comparison{Levels: t.Best.Levels, Ref: r,
			Loss:  pairedTest(field(r.Runs, testLoss), field(t.Best.Runs, testLoss)),
			Value: pairedTest(field(r.Runs, testValue), field(t.Best.Runs, testValue))})
	}
	return out
}

func (p Paired) String() string {
	if p.Diff.N == 0 {
		return "—"
	}
	d := fmt.Sprintf("%+.4f", p.Diff.Mean)
	if p.Diff.N > 1 {
		d += fmt.Sprintf(" ± %.4f", p.Diff.CI)
	}
	if math.IsNaN(p.P) {
		return d + " | — | —"
	}
	return fmt.Sprintf("%s | %.2f | %.2g", d, p.T, p.P)
}

func markdown(s *Sweep, gs []Group, plots []string) string {
	var b bytes.Buffer
	m := s.metric()
	fmt.Fprintf(&b, "# Sweep %s\n\n", s.Name)
	if s.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(s.Description))
	}
	base := s.Base
	if base == "" {
		base = "embedded"
	}
	fmt.Fprintf(&b, "Task `%s` (metric: %s), base `%s`, %d seed(s). Values are mean ± the half-width of the 95%% "+
		"Student-t interval over seeds. A run counts as diverged when its loss became non-finite, train's guard stopped it, "+
		"or its final validation loss is above %g × the base model's; a non-finite run is left out of the loss means and "+
		"scores 0 on exact match and accuracy.\n\n", s.Task, m, base, max(s.Seeds, 1), s.divergeAbove())
	if m != "perplexity" {
		var base, maj []float64
		for _, g := range gs {
			base, maj = append(base, field(g.Runs, func(r Result) Num { return r.BaseTestValue })...), append(maj, field(g.Runs, func(r Result) Num { return r.Majority })...)
		}
		if bs, js := stat(base), stat(maj); bs.N > 0 && js.N > 0 {
			fmt.Fprintf(&b, "Baselines on the test split: the untuned base model scores %.4f %s; always giving the commonest answer scores %.4f.\n\n", bs.Mean, m, js.Mean)
		}
	}
	showVal := m != "perplexity" // validation perplexity is exp(val loss)
	row := func(cells ...string) { b.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	rule := func(n int) { b.WriteString("|" + strings.Repeat(" --- |", n) + "\n") }
	var head []string
	for _, a := range s.Axes {
		head = append(head, a.AxisName())
	}
	cols := []string{"val loss"}
	if showVal {
		cols = append(cols, "val "+m)
	}
	cols = append(cols, "test loss", "test "+m, "diverged")
	row(append(append(head, cols...), "trainable params")...)
	rule(len(head) + len(cols) + 1)
	stats := func(g *Group) []string {
		c := []string{g.Loss.String()}
		if showVal {
			c = append(c, g.Value.String())
		}
		return append(c, g.TestLoss.String(), g.TestValue.String(), fmt.Sprintf("%d/%d", g.Diverged, len(g.Runs)))
	}
	for i := range gs {
		g := &gs[i]
		trainable := 0
		for _, r := range g.Runs {
			trainable = max(trainable, r.Trainable)
		}
		row(append(append(append([]string(nil), g.Levels...), stats(g)...), strconv.Itoa(trainable))...)
	}
	ti := axisIndex(s, s.tuneAxis())
	if ti >= 0 && len(s.Axes) > 0 {
		tuned := tune(s, gs, ti)
		crit := "lowest validation loss"
		if m != "perplexity" {
			crit = "highest validation " + m
		}
		fmt.Fprintf(&b, "\n## Each configuration at its best %s\n\nChosen on the validation split (%s); the test columns "+
			"are the same runs scored on the test split. *edge* marks a best %s at the end of the grid: the optimum may lie beyond it.\n\n",
			s.Axes[ti].AxisName(), crit, s.Axes[ti].AxisName())
		var h []string
		for i, a := range s.Axes {
			if i != ti {
				h = append(h, a.AxisName())
			}
		}
		h = append(h, "best "+s.Axes[ti].AxisName())
		row(append(h, cols...)...)
		rule(len(h) + len(cols))
		for _, t := range tuned {
			if t.Best == nil {
				continue
			}
			var c []string
			for i, l := range t.Best.Levels {
				if i != ti {
					c = append(c, l)
				}
			}
			best := t.Best.Levels[ti]
			if t.Edge != "" {
				best += " (edge: " + t.Edge + ")"
			}
			row(append(append(c, best), stats(t.Best)...)...)
		}
		ci := axisIndex(s, s.compareAxis())
		if cmp := compare(s, tuned, ti, ci); len(cmp) > 0 {
			ref := levelsOf(s, ci)[0]
			fmt.Fprintf(&b, "\n## Paired differences against %s=%s\n\nEach configuration at its own best %s minus the "+
				"reference at its own, seed by seed on the test split (same seed: same data order), mean ± 95%% t-interval, "+
				"paired t statistic and two-sided p-value.\n\n", s.Axes[ci].AxisName(), ref, s.Axes[ti].AxisName())
			h := []string{}
			for i, a := range s.Axes {
				if i != ti {
					h = append(h, a.AxisName())
				}
			}
			h = append(h, "Δ test loss", "t", "p", "pairs")
			if m != "perplexity" {
				h = append(h, "Δ test "+m, "t", "p")
			}
			row(h...)
			rule(len(h))
			for _, c := range cmp {
				var cells []string
				for i, l := range c.Levels {
					if i != ti {
						cells = append(cells, l)
					}
				}
				cells = append(cells, c.Loss.String(), strconv.Itoa(c.Loss.Diff.N))
				if m != "perplexity" {
					cells = append(cells, c.Value.String())
				}
				row(cells...)
			}
		}
	}
	for _, p := range plots {
		fmt.Fprintf(&b, "\n![%s](%s)\n", p, p)
	}
	return b.String()
}

func axisIndex(s *Sweep, name string) int {
	for i, a := range s.Axes {
		if a.AxisName() == name {
			return i
		}
	}
	return -1
}

// levelsOf lists the levels of axis i in sweep order.
func levelsOf(s *Sweep, i int) []string {
	var out []string
	for _, l := range s.Axes[i].levels() {
		out = append(out, l.Label)
	}
	return out
}
