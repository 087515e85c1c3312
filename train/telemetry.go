package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PeakRSS is the process's peak resident memory in bytes: VmHWM from
// /proc/self/status on Linux, else the Go runtime's total obtained from the
// OS (an upper bound of the heap's peak, the best portable figure).
func PeakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				f := strings.Fields(rest)
				if len(f) >= 1 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						return kb * 1024
					}
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// isTerminal reports whether w is a character device (a terminal), using
// only the standard library.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress prints training progress: one self-rewriting line on a
// terminal, plain log lines every logEvery steps otherwise.
type progress struct {
	w        io.Writer
	tty      bool
	logEvery int
	total    int
	start    int       // step the run (or resume) started at
	t0       time.Time // wall time at start
	trainS   float64   // seconds spent in training steps since start
	tokens   int64     // loss tokens since start
	lineOpen bool      // a \r line is on screen and needs a newline first
}

func (p *progress) step(r StepRecord, dt float64) {
	done := r.Step - p.start
	p.trainS += dt
	p.tokens += int64(r.Tokens)
	// it/s and tok/s count training time only; the ETA uses wall time, so
	// it includes evaluations and checkpoints still to come.
	its := float64(done) / max(p.trainS, 1e-9)
	tps := float64(p.tokens) / max(p.trainS, 1e-9)
	wall := time.Since(p.t0).Seconds()
	eta := fmtDuration(time.Duration(wall / float64(done) * float64(p.total-r.Step) * float64(time.Second)))
	mem := float64(PeakRSS()) / (1 << 20)
	stats := fmt.Sprintf("loss %.4f  lr %.2e  %.2f it/s  %.0f tok/s  mem %.0f MiB  ETA %s",
		r.Loss, r.LR, its, tps, mem, eta)
	if p.tty {
		const width = 20
		fill := width * r.Step / max(p.total, 1)
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		fmt.Fprintf(p.w, "\r\033[Kstep %d/%d [%s] %s", r.Step, p.total, bar, stats)
		p.lineOpen = true
		return
	}
	if r.Step%p.logEvery == 0 || r.Step == p.total || r.Step == p.start+1 {
		fmt.Fprintf(p.w, "step %d/%d  %s\n", r.Step, p.total, stats)
	}
}

// endLine finishes a live progress line, if one is on screen.
func (p *progress) endLine() {
	if p.lineOpen {
		fmt.Fprintln(p.w)
		p.lineOpen = false
	}
}

// line prints a message on its own line (evals, checkpoints, notes).
func (p *progress) line(format string, a ...any) {
	p.endLine()
	fmt.Fprintf(p.w, format+"\n", a...)
}

func fmtDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// metricsLines renders the history as metrics.jsonl: steps in order, each
// evaluation right after the step it followed (step 0 first).
func metricsLines(h History) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	e := 0
	for _, s := range h.Steps {
		for e < len(h.Evals) && h.Evals[e].Step < s.Step {
			enc.Encode(h.Evals[e])
			e++
		}
		enc.Encode(s)
	}
	for ; e < len(h.Evals); e++ {
		enc.Encode(h.Evals[e])
	}
	return buf.Bytes()
}

// metricsWriter appends records to metrics.jsonl as they happen, so a
// crashed run still leaves its metrics behind.
type metricsWriter struct {
	f *os.File
	w *bufio.Writer
}

// openMetrics (re)writes path from the history (a resumed run drops the
// lines of steps it will redo) and opens it for appending.
func openMetrics(path string, h History) (*metricsWriter, error) {
	if err := writeAtomic(path, metricsLines(h)); err != nil {
		return nil, fmt.Errorf("train: metrics: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: metrics: %w", err)
	}
	return &metricsWriter{f: f, w: bufio.NewWriter(f)}, nil
}

func (m *metricsWriter) add(rec any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	m.w.Write(append(b, '\n'))
	return m.w.Flush()
}

func (m *metricsWriter) Close() error {
	m.w.Flush()
	return m.f.Close()
}

// plotLoss draws the training and validation loss curves to a PNG at path
// (atomically, so a reader never sees half an image).
func plotLoss(path string, h History) error {
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
			return fmt.Errorf("train: loss.png: %w", err)
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
				return fmt.Errorf("train: loss.png: %w", err)
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
			return fmt.Errorf("train: loss.png: %w", err)
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
		return fmt.Errorf("train: loss.png: %w", err)
	}
	return writeAtomicFunc(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}
