package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golora/golora/internal/atomicfile"
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
	// Each field has a rank: when the line would not fit an 80-column
	// terminal (a longer \r line wraps, and then every redraw leaves a line
	// behind), the fields of the highest ranks give way.
	fields := []field{
		{fmt.Sprintf("step %d/%d", r.Step, p.total), 0},
		{fmt.Sprintf("loss %.4f", r.Loss), 0},
		{fmt.Sprintf("lr %.2e", r.LR), 3},
		{fmt.Sprintf("%.2f it/s", its), 4},
		{fmt.Sprintf("%.0f loss tok/s", tps), 1},
		{fmt.Sprintf("mem %.0f MiB", float64(PeakRSS())/(1<<20)), 5},
		{"ETA " + eta, 0},
	}
	if p.tty {
		const width = 10
		fill := width * r.Step / max(p.total, 1)
		bar := field{"[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "]", 2}
		fields = slices.Insert(fields, 1, bar)
		fmt.Fprintf(p.w, "\r\033[K%s", fitLine(fields))
		p.lineOpen = true
		return
	}
	if r.Step%p.logEvery == 0 || r.Step == p.total || r.Step == p.start+1 {
		fmt.Fprintln(p.w, fitLine(fields))
	}
}

// field is one part of the progress line; rank 0 always shows.
type field struct {
	text string
	rank int
}

// lineWidth is the widest progress line: an 80-column terminal less the
// last column, which some terminals wrap on.
const lineWidth = 79

// fitLine joins the fields, leaving out the highest ranks until the line
// fits lineWidth.
func fitLine(fields []field) string {
	for drop := 6; ; drop-- {
		var parts []string
		for _, f := range fields {
			if f.rank < drop {
				parts = append(parts, f.text)
			}
		}
		if line := strings.Join(parts, "  "); len(line) <= lineWidth || drop == 1 {
			return line
		}
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
	if err := atomicfile.WriteBytes(path, metricsLines(h)); err != nil {
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
