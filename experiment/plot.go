package experiment

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// figure is a plot before rendering, kept inspectable for tests: the
// lines drawn (one per series × split level), how many seed bands, and
// the legend, which is drawn beside the data area, never over it.
type figure struct {
	pl     *plot.Plot
	legend plot.Legend
	lines  []figLine
	bands  int
}

type figLine struct {
	Name string
	Pts  plotter.XYs
}

// yOf names the quantity a final plot shows and returns its statistic.
func yOf(s *Sweep, y string) (string, func(*Group) Stat) {
	m := s.metric()
	switch y {
	case "metric":
		return "validation " + m, func(g *Group) Stat { return g.Value }
	case "test-loss":
		return "test loss", func(g *Group) Stat { return g.TestLoss }
	case "test-metric":
		return "test " + m, func(g *Group) Stat { return g.TestValue }
	}
	return "final validation loss", func(g *Group) Stat { return g.Loss }
}

// lineKey is one line of a figure: a level of the series axis and of the
// split axis (the third axis, drawn as separate lines).
type lineKey struct{ ser, split string }

func lineKeys(s *Sweep, p Plot) (keys []lineKey, si, pi int) {
	si, pi = axisIndex(s, p.Series), axisIndex(s, p.Split)
	sers, splits := []string{""}, []string{""}
	if si >= 0 {
		sers = levelsOf(s, si)
	}
	if pi >= 0 {
		splits = levelsOf(s, pi)
	}
	for _, a := range sers {
		for _, b := range splits {
			keys = append(keys, lineKey{a, b})
		}
	}
	return keys, si, pi
}

func (k lineKey) matches(g *Group, si, pi int) bool {
	return (si < 0 || g.Levels[si] == k.ser) && (pi < 0 || g.Levels[pi] == k.split)
}

func (k lineKey) name(p Plot) string {
	switch {
	case p.Series == "" && p.Split == "":
		return "all"
	case p.Split == "":
		return p.Series + "=" + k.ser
	case p.Series == "":
		return p.Split + "=" + k.split
	}
	return p.Series + "=" + k.ser + ", " + p.Split + "=" + k.split
}

// buildFigure lays out plot p of the sweep from its grid points.
func buildFigure(s *Sweep, p Plot, gs []Group) (*figure, error) {
	f := &figure{pl: plot.New(), legend: plot.NewLegend()}
	pl := f.pl
	keys, si, pi := lineKeys(s, p)
	nSplit := 1
	if pi >= 0 {
		nSplit = len(levelsOf(s, pi))
	}
	// Colour follows the series level, the dash pattern the split level.
	style := func(i int) (int, int) { return i / nSplit, i % nSplit }
	var xLevels []float64
	switch p.Type {
	case "final":
		xi := axisIndex(s, p.X)
		xs := levelsOf(s, xi)
		numeric := true
		for _, x := range xs {
			v, err := strconv.ParseFloat(x, 64)
			if err != nil {
				numeric = false
			}
			xLevels = append(xLevels, v)
		}
		ylabel, yStat := yOf(s, p.Y)
		pl.Title.Text = p.Title
		if pl.Title.Text == "" {
			pl.Title.Text = fmt.Sprintf("%s: %s vs %s", s.Name, ylabel, p.X)
			if h := hiddenAxes(s, p.X, p.Series, p.Split); h != "" {
				pl.Title.Text += " (each point at its best " + h + ")"
			}
		}
		pl.X.Label.Text, pl.Y.Label.Text = p.X, ylabel
		if !numeric {
			pl.NominalX(xs...)
			xLevels = nil
		}
		for i, k := range keys {
			var pts plotter.XYs
			var yerr plotter.YErrors
			for j, x := range xs {
				// Axes the plot does not show (lr, say) are at their best
				// level for this point, chosen on validation: one point
				// per x, never a zig-zag through hidden levels.
				var best *Group
				for gi := range gs {
					g := &gs[gi]
					if g.Levels[xi] == x && k.matches(g, si, pi) && g.Loss.N > 0 && (best == nil || better(s.metric(), g, best)) {
						best = g
					}
				}
				if best == nil || yStat(best).N == 0 {
					continue
				}
				st := yStat(best)
				xv := float64(j)
				if numeric {
					xv = xLevels[j]
				}
				pts = append(pts, plotter.XY{X: xv, Y: st.Mean})
				ci := st.CI
				if st.N < 2 {
					ci = 0
				}
				yerr = append(yerr, struct{ Low, High float64 }{ci, ci})
			}
			if len(pts) == 0 {
				continue
			}
			c, d := style(i)
			if err := f.addLine(pts, c, d, k.name(p)); err != nil {
				return nil, err
			}
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYer
				plotter.YErrorer
			}{pts, yerr})
			if err == nil {
				eb.LineStyle.Color = plotutil.Color(c)
				pl.Add(eb)
			}
		}
		numeric = numeric && allPositive(xs)
		if !(p.LogX && numeric) {
			xLevels = nil
		}
	case "curves":
		bi := axisIndex(s, p.Best)
		pl.Title.Text = p.Title
		if pl.Title.Text == "" {
			pl.Title.Text = s.Name + ": validation loss"
			if h := hiddenAxes(s, p.Series, p.Split); h != "" {
				pl.Title.Text += " at the best " + h
			}
			pl.Title.Text += " (mean, band: min–max over seeds)"
		}
		pl.X.Label.Text, pl.Y.Label.Text = "step", "validation loss"
		tuned := map[lineKey]Tuned{}
		for _, t := range tune(s, gs, bi) {
			for _, k := range keys {
				if t.Best != nil && k.matches(t.Best, si, pi) {
					if o, ok := tuned[k]; !ok || better(s.metric(), t.Best, o.Best) {
						tuned[k] = t
					}
				}
			}
		}
		for i, k := range keys {
			t, ok := tuned[k]
			if !ok {
				continue
			}
			mean, lo, hi := seedCurves(t.Best.Runs)
			if len(mean) == 0 {
				continue
			}
			c, d := style(i)
			if len(t.Best.Runs) > 1 {
				if err := f.addBand(lo, hi, c); err != nil {
					return nil, err
				}
			}
			name := k.name(p)
			if bi >= 0 {
				name += fmt.Sprintf(" (%s=%s)", p.Best, t.Best.Levels[bi])
			}
			if err := f.addLine(mean, c, d, name); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("plot type %q: want final or curves", p.Type)
	}
	if len(xLevels) > 0 && pl.X.Min > 0 && pl.X.Max > pl.X.Min {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = logTicks{levels: xLevels}
	}
	if p.LogY && pl.Y.Min > 0 && pl.Y.Max > pl.Y.Min {
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = logTicks{}
	} else {
		pl.Y.Tick.Marker = fineTicks{}
	}
	return f, nil
}

func (f *figure) addLine(pts plotter.XYs, c, d int, name string) error {
	l, sc, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color, l.Dashes = plotutil.Color(c), plotutil.Dashes(d)
	sc.Color, sc.Shape = plotutil.Color(c), plotutil.Shape(c)
	f.pl.Add(l, sc)
	f.legend.Add(name, l, sc)
	f.lines = append(f.lines, figLine{name, pts})
	return nil
}

// addBand shades the area between lo and hi (same steps) in colour c.
func (f *figure) addBand(lo, hi plotter.XYs, c int) error {
	ring := append(plotter.XYs(nil), lo...)
	for i := len(hi) - 1; i >= 0; i-- {
		ring = append(ring, hi[i])
	}
	poly, err := plotter.NewPolygon(ring)
	if err != nil {
		return err
	}
	r, g, b, _ := plotutil.Color(c).RGBA()
	poly.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 48}
	poly.LineStyle.Width = 0
	f.pl.Add(poly)
	f.bands++
	return nil
}

// legendWidth is the room the legend takes to the right of the data.
func (f *figure) legendWidth() vg.Length {
	r := f.legend.Rectangle(draw.New(vgimg.New(figW, figH)))
	return r.Max.X - r.Min.X + vg.Points(8)
}

// hiddenAxes names the sweep's axes a final plot does not show.
func hiddenAxes(s *Sweep, shown ...string) string {
	var h []string
	for _, a := range s.Axes {
		if !containsStr(shown, a.AxisName()) && len(a.levels()) > 1 {
			h = append(h, a.AxisName())
		}
	}
	return strings.Join(h, ", ")
}

// writePNG renders the figure at 7 x 4.5 inches plus the legend column.
func (f *figure) writePNG(w io.Writer) error {
	c := vgimg.PngCanvas{Canvas: vgimg.New(figW+f.legendCol(), figH)}
	f.draw(draw.New(c))
	_, err := c.WriteTo(w)
	return err
}

const figW, figH = 7 * vg.Inch, 4.5 * vg.Inch

func (f *figure) legendCol() vg.Length { return min(f.legendWidth(), figW/2) }

// layout splits the canvas: the plot on the left, the legend in its own
// column on the right, so no entry hides a point.
func (f *figure) layout(dc draw.Canvas) (plotArea, legendArea draw.Canvas) {
	lw := f.legendCol()
	f.legend.Top, f.legend.Left = true, true
	f.legend.YOffs = -f.pl.Title.TextStyle.Height(f.pl.Title.Text) - vg.Points(12)
	return draw.Crop(dc, 0, -lw, 0, 0), draw.Crop(dc, dc.Max.X-dc.Min.X-lw, 0, 0, 0)
}

func (f *figure) draw(dc draw.Canvas) {
	plotArea, legendArea := f.layout(dc)
	f.pl.Draw(plotArea)
	f.legend.Draw(legendArea)
}

// seedCurves are the mean, minimum and maximum validation loss over the
// runs at each evaluated step (finite values only).
func seedCurves(runs []Result) (mean, lo, hi plotter.XYs) {
	type acc struct {
		sum, lo, hi float64
		n           int
	}
	by := map[int]*acc{}
	for _, r := range runs {
		for _, c := range r.Curve {
			v := float64(c.ValLoss)
			if !finite(v) {
				continue
			}
			a := by[c.Step]
			if a == nil {
				a = &acc{lo: v, hi: v}
				by[c.Step] = a
			}
			a.sum += v
			a.n++
			a.lo, a.hi = math.Min(a.lo, v), math.Max(a.hi, v)
		}
	}
	var steps []int
	for st := range by {
		steps = append(steps, st)
	}
	sort.Ints(steps)
	for _, st := range steps {
		a := by[st]
		x := float64(st)
		mean = append(mean, plotter.XY{X: x, Y: a.sum / float64(a.n)})
		lo = append(lo, plotter.XY{X: x, Y: a.lo})
		hi = append(hi, plotter.XY{X: x, Y: a.hi})
	}
	return mean, lo, hi
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

// fineTicks are gonum's default tick positions labelled with the fewest
// decimals that print every labelled value exactly (2.25 is "2.25", not
// "2.2"; 2.5 next to it is "2.50").
type fineTicks struct{}

// Ticks implements plot.Ticker.
func (fineTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	prec := 0
	for _, t := range ts {
		if t.Label == "" {
			continue
		}
		for prec < 10 && !exactAt(t.Value, prec, hi-lo) {
			prec++
		}
	}
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', prec, 64)
		}
	}
	return ts
}

// exactAt reports whether v printed with prec decimals reads back as v, up
// to float noise relative to the axis span.
func exactAt(v float64, prec int, span float64) bool {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', prec, 64), 64)
	return math.Abs(r-v) <= 1e-9*math.Max(span, math.Abs(v))
}

// logTicks label a log axis readably: at the sweep's own levels when it
// has them (1e-4, 3e-4, 1e-3, ...), else at 1, 2 and 5 of each decade,
// with unlabelled minor ticks at the other integers of each decade.
type logTicks struct{ levels []float64 }

// Ticks implements plot.Ticker.
func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	label := func(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }
	for _, v := range t.levels {
		if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
			ts = append(ts, plot.Tick{Value: v, Label: label(v)})
		}
	}
	for d := math.Pow10(int(math.Floor(math.Log10(lo)))); d <= hi; d *= 10 {
		for i := 1; i < 10; i++ {
			v := float64(i) * d
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			tk := plot.Tick{Value: v}
			if len(t.levels) == 0 && (i == 1 || i == 2 || i == 5) {
				tk.Label = label(v)
			}
			ts = append(ts, tk)
		}
	}
	return ts
}
