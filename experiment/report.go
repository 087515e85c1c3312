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

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/golora/golora/internal/atomicfile"
)

// Group is one grid point: the runs of every seed with the same levels.
type Group struct {
	Levels   []string
	Runs     []Result
	Loss     Stat // final validation loss over the seeds that did not diverge
	Value    Stat // the task metric (a diverged run counts as 0 for scores)
	Diverged int
}

// Groups collects results by grid point, in the order first seen.
func Groups(results []Result) []Group {
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
		var loss, val []float64
		for _, r := range gs[i].Runs {
			loss = append(loss, float64(r.FinalValLoss))
			val = append(val, float64(r.Value))
			if r.Diverged {
				gs[i].Diverged++
			}
		}
		gs[i].Loss, gs[i].Value = stat(loss), stat(val)
	}
	return gs
}

// WriteReport writes results.csv, results.md and the sweep's plots into out.
func WriteReport(out string, s *Sweep, results []Result) error {
	if err := atomicfile.WriteFile(filepath.Join(out, "results.csv"), func(w io.Writer) error { return writeCSV(w, s, results) }); err != nil {
		return fmt.Errorf("experiment: results.csv: %w", err)
	}
	groups := Groups(results)
	var plots []string
	for i, p := range s.Plots {
		name := p.File
		if name == "" {
			name = fmt.Sprintf("%s-%d-%s.png", s.Name, i, p.Type)
		}
		if !plainName(name) { // Parse refuses these; a Sweep built in code might not
			return fmt.Errorf("experiment: plot file %.80q would leave %s", name, out)
		}
		if err := drawPlot(filepath.Join(out, name), s, p, groups); err != nil {
			return fmt.Errorf("experiment: %s: %w", name, err)
		}
		plots = append(plots, name)
	}
	md := markdown(s, groups, plots)
	if err := atomicfile.WriteBytes(filepath.Join(out, "results.md"), []byte(md)); err != nil {
		return fmt.Errorf("experiment: results.md: %w", err)
	}
	return nil
}

func fmtNum(f Num) string {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
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
	head = append(head, "seed", "final_val_loss", "best_val_loss", s.metric(), "diverged", "trainable_params", "seconds")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range results {
		row := append([]string{r.ID}, r.Levels...)
		row = append(row, strconv.Itoa(r.Seed), fmtNum(r.FinalValLoss), fmtNum(r.BestValLoss), fmtNum(r.Value),
			strconv.FormatBool(r.Diverged), strconv.Itoa(r.Trainable), strconv.FormatFloat(r.Seconds, 'f', 1, 64))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func markdown(s *Sweep, groups []Group, plots []string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Sweep %s\n\n", s.Name)
	if s.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(s.Description))
	}
	base := s.Base
	if base == "" {
		base = "embedded"
	}
	fmt.Fprintf(&b, "Task `%s` (metric: %s), base `%s`, %d seed(s). Values are mean ± std over seeds; "+
		"a diverged run (non-finite loss) is left out of the loss and scores 0 on exact match and accuracy.\n\n",
		s.Task, s.metric(), base, max(s.Seeds, 1))
	b.WriteString("|")
	for _, a := range s.Axes {
		fmt.Fprintf(&b, " %s |", a.AxisName())
	}
	fmt.Fprintf(&b, " final val loss | %s | diverged | trainable params |\n|", s.metric())
	for range len(s.Axes) + 4 {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, g := range groups {
		b.WriteString("|")
		for _, l := range g.Levels {
			fmt.Fprintf(&b, " %s |", l)
		}
		trainable := 0
		for _, r := range g.Runs {
			trainable = max(trainable, r.Trainable)
		}
		fmt.Fprintf(&b, " %s | %s | %d/%d | %d |\n", g.Loss, g.Value, g.Diverged, len(g.Runs), trainable)
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

func drawPlot(path string, s *Sweep, p Plot, groups []Group) error {
	pl := plot.New()
	pl.Legend.Top = true
	si := axisIndex(s, p.Series)
	logX := false // set once the points are in: a partial sweep may have one x
	series := []string{""}
	if si >= 0 {
		series = levelsOf(s, si)
	}
	switch p.Type {
	case "final":
		xi := axisIndex(s, p.X)
		xs := levelsOf(s, xi)
		numeric := true
		for _, x := range xs {
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				numeric = false
			}
		}
		pl.Title.Text = p.Title
		if pl.Title.Text == "" {
			pl.Title.Text = fmt.Sprintf("%s: final validation loss vs %s", s.Name, p.X)
		}
		pl.X.Label.Text = p.X
		pl.Y.Label.Text = "final validation loss"
		if p.Y == "metric" {
			pl.Y.Label.Text = s.metric()
		}
		logX = p.LogX && numeric && allPositive(xs)
		if !numeric {
			pl.NominalX(xs...)
		}
		for k, ser := range series {
			var pts, errs plotter.XYs
			var yerr plotter.YErrors
			for j, x := range xs {
				for _, g := range groups {
					if g.Levels[xi] != x || (si >= 0 && g.Levels[si] != ser) {
						continue
					}
					st := g.Loss
					if p.Y == "metric" {
						st = g.Value
					}
					if st.N == 0 {
						continue
					}
					xv := float64(j)
					if numeric {
						xv, _ = strconv.ParseFloat(x, 64)
					}
					pts = append(pts, plotter.XY{X: xv, Y: st.Mean})
					errs = append(errs, plotter.XY{X: xv, Y: st.Mean})
					yerr = append(yerr, struct{ Low, High float64 }{st.Std, st.Std})
				}
			}
			if len(pts) == 0 {
				continue
			}
			if err := addLine(pl, pts, k, seriesName(p.Series, ser)); err != nil {
				return err
			}
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYer
				plotter.YErrorer
			}{errs, yerr})
			if err == nil {
				eb.LineStyle.Color = plotutil.Color(k)
				pl.Add(eb)
			}
		}
	case "curves":
		bi := axisIndex(s, p.Best)
		pl.Title.Text = p.Title
		if pl.Title.Text == "" {
			pl.Title.Text = s.Name + ": validation loss"
			if p.Best != "" {
				pl.Title.Text += " at the best " + p.Best
			}
		}
		pl.X.Label.Text = "step"
		pl.Y.Label.Text = "validation loss"
		for k, ser := range series {
			var best *Group
			for i := range groups {
				g := &groups[i]
				if si >= 0 && g.Levels[si] != ser || g.Loss.N == 0 {
					continue
				}
				if best == nil || g.Loss.Mean < best.Loss.Mean {
					best = g
				}
			}
			if best == nil {
				continue
			}
			pts := meanCurve(best.Runs)
			name := seriesName(p.Series, ser)
			if bi >= 0 {
				name += fmt.Sprintf(" (%s=%s)", p.Best, best.Levels[bi])
			}
			if err := addLine(pl, pts, k, name); err != nil {
				return err
			}
		}
	}
	if logX && pl.X.Min > 0 && pl.X.Max > pl.X.Min {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if p.LogY && pl.Y.Min > 0 && pl.Y.Max > pl.Y.Min {
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if !p.LogY {
		pl.Y.Tick.Marker = fineTicks{}
	}
	c := vgimg.PngCanvas{Canvas: vgimg.New(7*vg.Inch, 4.5*vg.Inch)}
	pl.Draw(draw.New(c))
	return atomicfile.WriteFile(path, func(w io.Writer) error { _, err := c.WriteTo(w); return err })
}

func seriesName(axis, level string) string {
	if axis == "" {
		return "all"
	}
	return axis + "=" + level
}

func addLine(pl *plot.Plot, pts plotter.XYs, k int, name string) error {
	l, sc, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(k)
	l.Dashes = plotutil.Dashes(k)
	sc.Color = plotutil.Color(k)
	sc.Shape = plotutil.Shape(k)
	pl.Add(l, sc)
	pl.Legend.Add(name, l, sc)
	return nil
}

// meanCurve averages the validation curves of runs step by step (finite
// values only).
func meanCurve(runs []Result) plotter.XYs {
	sum := map[int]float64{}
	cnt := map[int]int{}
	for _, r := range runs {
		for _, c := range r.Curve {
			v := float64(c.ValLoss)
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				sum[c.Step] += v
				cnt[c.Step]++
			}
		}
	}
	var steps []int
	for st := range sum {
		steps = append(steps, st)
	}
	sort.Ints(steps)
	pts := make(plotter.XYs, len(steps))
	for i, st := range steps {
		pts[i] = plotter.XY{X: float64(st), Y: sum[st] / float64(cnt[st])}
	}
	return pts
}

// allPositive reports whether every level parses as a number > 0 (a log
// axis needs that and at least two distinct values, or gonum panics).
func allPositive(xs []string) bool {
	for _, x := range xs {
		if v, err := strconv.ParseFloat(x, 64); err != nil || !(v > 0) {
			return false
		}
	}
	return true
}

// fineTicks are gonum's default ticks labelled with enough decimals for
// the range: losses that differ in the third decimal would otherwise be
// labelled 2.2, 2.2.
type fineTicks struct{}

// Ticks implements plot.Ticker.
func (fineTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	var major []float64
	for _, t := range ts {
		if t.Label != "" {
			major = append(major, t.Value)
		}
	}
	prec := 0
	if len(major) > 1 {
		step := math.Abs(major[1] - major[0])
		prec = max(0, int(math.Ceil(-math.Log10(step)+1e-9)))
	}
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', prec, 64)
		}
	}
	return ts
}
