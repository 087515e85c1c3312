package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// The run folder's guards: one trainer per folder (a lock file), no silent
// overwrite of an earlier run, a stop on divergence, and the best validated
// weights kept as the result.

const (
	lockFile = "golora.lock"
	bestFile = "best.safetensors" // under checkpoints/
)

// ErrLocked is wrapped by the error Run returns when another live trainer
// holds the run folder.
var ErrLocked = errors.New("run folder in use")

// ErrRunExists is wrapped by the error Run returns when --out already holds
// a run and neither --resume nor --overwrite was given.
var ErrRunExists = errors.New("run folder holds an earlier run")

// ErrDiverged is wrapped by the error Run returns when the divergence guard
// stops a run whose loss and gradients are still finite.
var ErrDiverged = errors.New("training diverged")

// lockInfo is the content of golora.lock.
type lockInfo struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	Started string `json:"started"`
}

// Lock heartbeat: the holder touches its lock every lockBeat, so a lock
// from another host (a cluster node that died) whose file has not changed
// for lockStale is stale too.
var (
	lockBeat  = time.Minute
	lockStale = 30 * time.Minute
)

// lockRun takes out/golora.lock for this process. A lock left by a process
// that no longer exists on this host, or not touched for lockStale, is stale
// and replaced (with a note through warn); a live one is an error naming
// the holder. While held, the lock's modification time is renewed every
// lockBeat.
func lockRun(out string, warn func(string, ...any)) (unlock func(), err error) {
	path := filepath.Join(out, lockFile)
	host, _ := os.Hostname()
	me := lockInfo{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Format(time.RFC3339)}
	body, _ := json.Marshal(me)
	for attempt := 0; attempt < 2; attempt++ {
		err := createExclusive(path, append(body, '\n'))
		if err == nil {
			ours := func() bool { b, err := os.ReadFile(path); return err == nil && string(b) == string(body)+"\n" }
			stop, beat := make(chan struct{}), lockBeat
			go func() {
				t := time.NewTicker(beat)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case now := <-t.C:
						if ours() {
							os.Chtimes(path, now, now)
						}
					}
				}
			}()
			return func() {
				close(stop)
				// Remove only our own lock (a later run that replaced it
				// as stale must not lose it to us).
				if ours() {
					os.Remove(path)
				}
			}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("train: --out %s: taking the lock: %w", out, err)
		}
		b, rerr := os.ReadFile(path)
		var held lockInfo
		if rerr != nil || len(b) > 4096 || json.Unmarshal(b, &held) != nil || held.PID <= 0 {
			return nil, fmt.Errorf("train: --out %s: %s exists but is unreadable (%q); if no trainer uses this folder, delete it: %w", out, path, truncate(string(b), 80), ErrLocked)
		}
		var touched time.Time
		if fi, err := os.Stat(path); err == nil {
			touched = fi.ModTime()
		}
		if (held.Host == host && !processAlive(held.PID)) || (!touched.IsZero() && time.Since(touched) > lockStale) {
			warn("note: removing the stale lock of process %d on %s (no longer running, or silent since %s) from %s",
				held.PID, truncate(held.Host, 64), touched.UTC().Format(time.RFC3339), path)
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("train: --out %s: removing stale lock: %w", out, err)
			}
			continue
		}
		return nil, fmt.Errorf("train: --out %s is in use by another trainer (pid %d on %s since %s); wait for it, or choose another --out. If that process is gone, delete %s: %w",
			out, held.PID, truncate(held.Host, 64), truncate(held.Started, 32), path, ErrLocked)
	}
	return nil, fmt.Errorf("train: --out %s: could not take %s: %w", out, path, ErrLocked)
}

// createExclusive creates path with data, failing with os.ErrExist if it
// exists. The content is written to a temporary file first and hard-linked
// into place, so a reader never sees a half-written lock.
func createExclusive(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-lock-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err == nil || errors.Is(err, os.ErrExist) {
		return err
	}
	// No hard links on this file system: O_EXCL is the next best thing.
	g, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = g.Write(data)
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// runFiles are what a finished or interrupted run leaves in --out.
var runFiles = []string{"adapter_config.json", "adapter_model.safetensors", "model.safetensors"}

// existingRun describes what in out belongs to an earlier run ("" if none):
// a checkpoint, a latest pointer or an adapter/model file.
func existingRun(out string) string {
	var found []string
	ckdir := filepath.Join(out, checkpointsDir)
	if entries, err := os.ReadDir(ckdir); err == nil {
		for _, e := range entries {
			if _, ok := parseStepName(e.Name()); ok || e.Name() == latestFile {
				found = append(found, checkpointsDir+"/")
				break
			}
		}
	}
	for _, f := range runFiles {
		if _, err := os.Lstat(filepath.Join(out, f)); err == nil {
			found = append(found, f)
		}
	}
	return strings.Join(found, ", ")
}

// divergence watches the loss and gradient norm of each step. A step is
// bad when its loss exceeds limit (Threshold × the loss at the initial
// weights, or ln(vocab), a uniform guess, when that is lower and the run
// started below it) or its gradient norm is gradExplode times the median of
// the steps before; Patience bad steps in a row stop the run.
type divergence struct {
	threshold float64 // 0: off
	patience  int
	lnVocab   float64 // 0: unknown
	bad       int
	norms     []float64
	reason    string
}

// gradExplode is how far above its running median a gradient norm must be
// to count as an explosion (clipping hides it from the update, not from us).
const gradExplode = 1000

// VocabSizer is implemented by tasks whose loss is a cross-entropy over a
// vocabulary; the divergence guard then also treats a loss above ln(V), a
// uniform guess, as diverged.
type VocabSizer interface {
	VocabSize() int
}

// observe records one step; it returns true when the run has diverged
// (reason says why). start is the first step's loss.
func (d *divergence) observe(step int, loss, norm, start float64) bool {
	if d.threshold <= 0 {
		return false
	}
	limit := d.threshold * start
	why := ""
	if d.lnVocab > 0 && start < d.lnVocab && d.lnVocab < limit {
		limit = d.lnVocab
		why = "ln(vocab), a uniform guess"
	} else {
		why = fmt.Sprintf("%g × the starting loss %.4f", d.threshold, start)
	}
	bad := false
	if start > 0 && loss > limit {
		bad, d.reason = true, fmt.Sprintf("loss %.4f above %.4f (%s)", loss, limit, why)
	}
	if len(d.norms) >= 5 {
		s := append([]float64(nil), d.norms...)
		sort.Float64s(s)
		if med := s[len(s)/2]; med > 0 && norm > gradExplode*med {
			bad, d.reason = true, fmt.Sprintf("gradient norm %.4g above %d × its median %.4g", norm, gradExplode, med)
		}
	}
	if bad {
		d.bad++
	} else {
		d.bad = 0
		d.norms = append(d.norms, norm) // only healthy steps set the scale
	}
	return d.bad >= d.patience
}

// saveBest writes the trainable weights as checkpoints/best.safetensors,
// atomically, tagged with the step and validation loss they scored.
func saveBest(out string, params []Param, rec EvalRecord) error {
	ckdir := filepath.Join(out, checkpointsDir)
	if err := os.MkdirAll(ckdir, 0o755); err != nil {
		return err
	}
	tensors := paramTensors(params)
	meta := map[string]string{"format": "golora-best", "step": strconv.Itoa(rec.Step), "val_loss": strconv.FormatFloat(rec.ValLoss, 'g', -1, 64)}
	return safetensors.Write(filepath.Join(ckdir, bestFile), tensors, meta)
}

// restoreBest copies checkpoints/best.safetensors into params if it holds
// the weights of eval rec (same step and loss) and every parameter.
func restoreBest(out string, params []Param, rec EvalRecord) error {
	path := filepath.Join(out, checkpointsDir, bestFile)
	tensors, meta, err := safetensors.ReadAll(path)
	if err != nil {
		return err
	}
	if meta["step"] != strconv.Itoa(rec.Step) || meta["val_loss"] != strconv.FormatFloat(rec.ValLoss, 'g', -1, 64) {
		return fmt.Errorf("%s holds step %s (val_loss %s), not the best evaluation (step %d)", path, meta["step"], meta["val_loss"], rec.Step)
	}
	for _, p := range params {
		t, ok := tensors["param/"+p.Name]
		if !ok || t.Len() != p.W.Len() || !allFinite(t.Data) {
			return fmt.Errorf("%s: %s missing, misshapen or not finite", path, p.Name)
		}
	}
	for _, p := range params {
		copy(p.W.Data, tensors["param/"+p.Name].Data)
	}
	return nil
}

// bestEval is the evaluation with the lowest loss (the earliest of ties).
func bestEval(h History) (EvalRecord, bool) {
	var best EvalRecord
	ok := false
	for _, e := range h.Evals {
		if !ok || e.ValLoss < best.ValLoss {
			best, ok = e, true
		}
	}
	return best, ok && !math.IsNaN(best.ValLoss)
}

// paramTensors keys the trainable weights as the trainer state does.
func paramTensors(params []Param) map[string]*tensor.Tensor {
	m := make(map[string]*tensor.Tensor, len(params))
	for _, p := range params {
		m["param/"+p.Name] = p.W
	}
	return m
}
