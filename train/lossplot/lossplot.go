// Package lossplot draws a training run's loss curves (train and
// validation) as a PNG: the loss.png that golora train writes. It is a
// package of its own so that programs embedding the train engine do not link
// the plotting library; set Trainer.Plot to Write to get the plot.
package lossplot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/train"
)

// Write draws the training and validation loss curves to a PNG at path
// (atomically, so a reader never sees half an image).
func Write(path string, h train.History) error {
	p := plot.New()
	p.Title.Text = "golora training loss"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (nats/token)"
	p.Add(plotter.NewGrid())
	if len(h.Steps) > 0 {
		xy := make(plotter.XYs, 0, len(h.Steps))
		for _, s := range h.Steps {
			if !math.IsNaN(s.Loss) && !math.IsInf(s.Loss, 0) {
				xy = append(xy, plotter.XY{X: float64(s.Step), Y: s.Loss})
			}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return fmt.Errorf("loss.png: %w", err)
		}
		l.Color = color.NRGBA{R: 31, G: 119, B: 180, A: 90} // faint: the smoothed line carries the trend
		l.Width = vg.Points(0.75)
		p.Add(l)
		p.Legend.Add("train", l)
		// A bias-corrected exponential moving average over about a
		// twentieth of the run makes the trend readable under the noise of
		// small batches.
		if len(xy) >= 20 {
			beta := 1 - 1/math.Max(5, float64(len(xy))/20)
			sm := make(plotter.XYs, len(xy))
			var avg float64
			for i, v := range xy {
				avg = beta*avg + (1-beta)*v.Y
				sm[i] = plotter.XY{X: v.X, Y: avg / (1 - math.Pow(beta, float64(i+1)))}
			}
			sl, err := plotter.NewLine(sm)
			if err != nil {
				return fmt.Errorf("loss.png: %w", err)
			}
			sl.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
			sl.Width = vg.Points(2)
			p.Add(sl)
			p.Legend.Add("train (smoothed)", sl)
		}
	}
	if len(h.Evals) > 0 {
		xy := make(plotter.XYs, len(h.Evals))
		for i, e := range h.Evals {
			xy[i] = plotter.XY{X: float64(e.Step), Y: e.ValLoss}
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("loss.png: %w", err)
		}
		orange := color.RGBA{R: 255, G: 127, B: 14, A: 255}
		l.Color, s.Color = orange, orange
		l.Width = vg.Points(2)
		p.Add(l, s)
		p.Legend.Add("validation", l, s)
	}
	p.Legend.Top = true
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("loss.png: %w", err)
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}
