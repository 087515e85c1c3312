package experiment

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// synthetic builds the results of a 3-seed sweep without training: the
// loss falls with log r and alpha, is best at lr 1e-2 (3e-2 for rslora),
// and seeds add ±0.01.
func synthetic(t *testing.T, yaml string) (*Sweep, []Result) {
	t.Helper()
	s, err := Parse([]byte(yaml), "synthetic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	var res []Result
	for _, r := range runs {
		v := map[string]float64{"r": 1, "alpha": 1}
		for i, a := range s.Axes {
			v[a.AxisName()], _ = strconv.ParseFloat(r.Levels[i], 64)
		}
		best := 1e-2
		if r.Levels[0] == "true" {
			best = 3e-2
		}
		loss := 2.3 - 0.02*math.Log(v["r"]) - 0.01*math.Log(v["alpha"]) + 0.05*math.Pow(math.Log10(v["lr"]/best), 2) + 0.01*float64(r.Seed-1)
		res = append(res, Result{ID: r.ID, Levels: r.Levels, Seed: r.Seed, Metric: s.metric(), BaseValLoss: 2.4,
			FinalValLoss: Num(loss), Value: Num(math.Exp(loss)), TestLoss: Num(loss + 0.003), TestValue: Num(math.Exp(loss + 0.003)),
			Curve: []CurvePoint{{0, 2.4}, {10, Num(2.4 + (loss-2.4)/2)}, {20, Num(loss)}}})
	}
	return s, res
}

const scaleYAML = `
name: scale
task: kjv-nt
seeds: 3
axes:
  - {key: rslora, values: [false, true]}
  - {key: alpha, values: [4, 16]}
  - {key: r, values: [4, 16, 64]}
  - {key: lr, values: [1.0e-3, 1.0e-2, 3.0e-2]}
plots:
  - {type: final, x: r, series: rslora, split: alpha, logx: true}
  - {type: curves, series: rslora, split: alpha, best: lr}
`

// TestFigures renders both plot types from synthetic results and checks
// the plot objects: one line per series x split level (the third axis is
// not zig-zagged into one line), titles from the quantity shown, the
// legend in its own column right of the data, readable log ticks, seed
// bands on the curves.
func TestFigures(t *testing.T) {
	s, res := synthetic(t, scaleYAML)
	gs := groups(res, 1)
	fig, err := buildFigure(s, s.Plots[0], gs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range fig.lines {
		names = append(names, l.Name)
		// One point per r (at the best lr), increasing: lr or alpha
		// levels drawn on one line would zig-zag back in x.
		if len(l.Pts) != 3 {
			t.Errorf("line %s has %d points, want one per r", l.Name, len(l.Pts))
		}
		for i := 1; i < len(l.Pts); i++ {
			if l.Pts[i].X <= l.Pts[i-1].X {
				t.Errorf("line %s goes back in x: %v", l.Name, l.Pts)
			}
		}
	}
	if want := "rslora=false, alpha=4|rslora=false, alpha=16|rslora=true, alpha=4|rslora=true, alpha=16"; strings.Join(names, "|") != want {
		t.Errorf("lines %q, want %q", names, want)
	}
	if got := fig.pl.Title.Text; got != "scale: final validation loss vs r (each point at its best lr)" {
		t.Errorf("title %q", got)
	}
	var labels []string
	for _, tk := range fig.pl.X.Tick.Marker.Ticks(fig.pl.X.Min, fig.pl.X.Max) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if strings.Join(labels, ",") != "4,16,64" {
		t.Errorf("log x labels %v, want the levels 4,16,64", labels)
	}

	// The legend lies right of the data area, inside the image.
	c := vgimg.New(figW+fig.legendCol(), figH)
	dc := draw.New(c)
	plotArea, legendArea := fig.layout(dc)
	data := fig.pl.DataCanvas(plotArea).Rectangle
	leg := fig.legend.Rectangle(legendArea)
	if !(leg.Min.X >= data.Max.X && leg.Max.X <= dc.Max.X+0.5 && leg.Max.Y <= dc.Max.Y) {
		t.Errorf("legend %v overlaps the data %v or leaves the canvas %v", leg, data, dc.Rectangle)
	}
	var png bytes.Buffer
	if err := fig.writePNG(&png); err != nil || !bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")) {
		t.Errorf("writePNG: %v", err)
	}

	// Curves: one line and one seed band per series x split, each at its
	// own best lr chosen on validation.
	cur, err := buildFigure(s, s.Plots[1], gs)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.lines) != 4 || cur.bands != 4 {
		t.Fatalf("curves: %d lines, %d bands, want 4 and 4", len(cur.lines), cur.bands)
	}
	for _, l := range cur.lines {
		want := "(lr=0.01)"
		if strings.HasPrefix(l.Name, "rslora=true") {
			want = "(lr=0.03)"
		}
		if !strings.HasSuffix(l.Name, want) {
			t.Errorf("curve %q: want the best lr %s", l.Name, want)
		}
	}
	if !strings.Contains(cur.pl.Title.Text, "min–max over seeds") {
		t.Errorf("curves title %q does not say what the band is", cur.pl.Title.Text)
	}
	mean, lo, hi := seedCurves(gs[0].Runs)
	for i := range mean {
		if !(lo[i].Y <= mean[i].Y && mean[i].Y <= hi[i].Y) || (i == len(mean)-1 && math.Abs(hi[i].Y-lo[i].Y-0.02) > 1e-9) {
			t.Errorf("step %v: band %v..%v around %v", mean[i].X, lo[i].Y, hi[i].Y, mean[i].Y)
		}
	}
}

// TestFigureTitles: a metric plot is titled by the metric and split, not
// "final validation loss".
func TestFigureTitles(t *testing.T) {
	s, res := synthetic(t, `
name: cls
task: continents
seeds: 2
axes:
  - {key: rslora, values: [false]}
  - {key: lr, values: [1.0e-3, 1.0e-2]}
plots:
  - {type: final, x: lr, y: metric, logx: true}
  - {type: final, x: lr, y: test-metric, logx: true}
  - {type: final, x: lr, y: test-loss}
`)
	gs := groups(res, 1)
	for i, want := range []string{"cls: validation accuracy vs lr", "cls: test accuracy vs lr", "cls: test loss vs lr"} {
		f, err := buildFigure(s, s.Plots[i], gs)
		if err != nil {
			t.Fatal(err)
		}
		if f.pl.Title.Text != want || f.pl.Y.Label.Text != strings.TrimPrefix(want, "cls: ")[:len(want)-len("cls: ")-len(" vs lr")] {
			t.Errorf("plot %d: title %q, y label %q, want %q", i, f.pl.Title.Text, f.pl.Y.Label.Text, want)
		}
		if len(f.lines) != 1 {
			t.Errorf("plot %d: %d lines, want 1", i, len(f.lines))
		}
	}
}

func tickLabels(tk plot.Ticker, lo, hi float64) (labels []string, values []float64) {
	for _, t := range tk.Ticks(lo, hi) {
		if t.Label != "" {
			labels = append(labels, t.Label)
			values = append(values, t.Value)
		}
	}
	return labels, values
}

// TestTicks: fine ticks print every labelled value exactly (2.25 is not
// "2.2"), and a log axis without levels labels 1, 2 and 5 of each decade.
func TestTicks(t *testing.T) {
	saw225 := false
	for _, r := range [][2]float64{{2.0, 2.5}, {1.9, 2.6}, {2.1, 2.4}, {2.15, 2.185}, {0.3, 0.39}, {0, 1}, {1.8, 3.4}, {100, 1250}} {
		labels, values := tickLabels(fineTicks{}, r[0], r[1])
		if len(labels) < 2 {
			t.Errorf("%v: labels %v", r, labels)
		}
		for i, l := range labels {
			v, err := strconv.ParseFloat(l, 64)
			if err != nil || math.Abs(v-values[i]) > 1e-9*math.Max(1, math.Abs(values[i])) {
				t.Errorf("%v: tick %v labelled %q", r, values[i], l)
			}
			if l == "2.25" {
				saw225 = true
			}
		}
	}
	if !saw225 {
		t.Error("no range produced the 2.25 tick this test is about")
	}
	labels, _ := tickLabels(logTicks{}, 1e-4, 3e-2)
	if got := strings.Join(labels, ","); got != "0.0001,0.0002,0.0005,0.001,0.002,0.005,0.01,0.02" {
		t.Errorf("log ticks %s", got)
	}
	labels, _ = tickLabels(logTicks{levels: []float64{1e-4, 3e-4, 1e-3}}, 1e-4, 1e-3)
	if got := strings.Join(labels, ","); got != "0.0001,0.0003,0.001" {
		t.Errorf("log ticks at levels %s", got)
	}
}

// TestTuneAndCompare: each configuration is reported at its own best lr
// (validation), an optimum at the end of the grid is flagged, and the
// paired test matches a hand computation.
func TestTuneAndCompare(t *testing.T) {
	s, res := synthetic(t, scaleYAML)
	gs := groups(res, 1)
	ti := axisIndex(s, "lr")
	tuned := tune(s, gs, ti)
	if len(tuned) != 12 {
		t.Fatalf("%d tuned configurations, want 2 x 2 x 3", len(tuned))
	}
	for _, tc := range tuned {
		want, edge := "0.01", ""
		if tc.Best.Levels[0] == "true" {
			want, edge = "0.03", "highest"
		}
		if tc.Best.Levels[ti] != want || tc.Edge != edge {
			t.Errorf("%v: best lr %s edge %q, want %s %q", tc.Best.Levels, tc.Best.Levels[ti], tc.Edge, want, edge)
		}
	}
	cmp := compare(s, tuned, ti, axisIndex(s, "rslora"))
	if len(cmp) != 6 {
		t.Fatalf("%d comparisons, want 6 (rslora=true vs false per alpha, r)", len(cmp))
	}
	// Seeds shift both sides alike, so the per-seed differences are exactly
	// constant: no spread, no test.
	if c := cmp[0]; c.Loss.Diff.N != 3 || math.Abs(c.Loss.Diff.Mean) > 1e-12 || !math.IsNaN(c.Loss.P) {
		t.Errorf("comparison %+v", c.Loss)
	}
	md := markdown(s, gs, nil)
	for _, want := range []string{"| false | 4 | 4 | 0.01 | ", "| true | 4 | 4 | 0.03 (edge: highest) | ", "## Paired differences against rslora=false"} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
}

// TestDivergenceThreshold: a finite run that ends above the base's loss
// (times the factor) is counted as diverged, in the groups and the CSV.
func TestDivergenceThreshold(t *testing.T) {
	rs := []Result{
		{Levels: []string{"a"}, Seed: 0, BaseValLoss: 2, FinalValLoss: 1.9},
		{Levels: []string{"a"}, Seed: 1, BaseValLoss: 2, FinalValLoss: 2.1},
		{Levels: []string{"a"}, Seed: 2, BaseValLoss: 2, FinalValLoss: Num(math.NaN()), Diverged: true},
	}
	for _, c := range []struct {
		factor float64
		want   int
	}{{1, 2}, {1.1, 1}} {
		g := groups(rs, c.factor)[0]
		if g.Diverged != c.want || g.Loss.N != 2 {
			t.Errorf("factor %g: %d diverged (loss over %d runs), want %d of 2 finite", c.factor, g.Diverged, g.Loss.N, c.want)
		}
	}
	if _, err := Parse([]byte(scaleYAML+"diverge-above: 0.5\n"), "x.yaml"); err == nil {
		t.Error("diverge-above 0.5 accepted")
	}
}
