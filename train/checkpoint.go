package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/golora/golora/tensor"
)

const (
	checkpointsDir = "checkpoints"
	latestFile     = "latest"
	stateFile      = "state.json"
	trainerFile    = "trainer_state.safetensors"
	stateVersion   = 1
)

// StepRecord is one optimizer step as logged to metrics.jsonl.
type StepRecord struct {
	Step       int     `json:"step"`
	Loss       float64 `json:"loss"`
	LR         float64 `json:"lr"`
	GradNorm   float64 `json:"grad_norm"`
	Tokens     int     `json:"tokens"`
	TokensPerS float64 `json:"tokens_per_s"`
	ElapsedS   float64 `json:"elapsed_s"`
}

// EvalRecord is one evaluation as logged to metrics.jsonl.
type EvalRecord struct {
	Step    int     `json:"step"`
	ValLoss float64 `json:"val_loss"`
	ValPPL  float64 `json:"val_ppl"`
}

// History is every step and evaluation so far; a resumed run needs it to
// rewrite metrics.jsonl, draw the whole loss curve and know the best
// validation loss.
type History struct {
	Steps []StepRecord `json:"steps"`
	Evals []EvalRecord `json:"evals"`
}

// State is a checkpoint's state.json: everything besides the tensors that a
// resumed run needs to continue exactly.
type State struct {
	Version    int     `json:"version"`
	Step       int     `json:"step"`        // optimizer steps completed
	TotalSteps int     `json:"total_steps"` // the schedule's length
	Tokens     int64   `json:"tokens"`      // loss tokens trained on so far
	ElapsedS   float64 `json:"elapsed_s"`
	RNG        []byte  `json:"rng"`            // the trainer's PCG (dropout seeds)
	Data       []byte  `json:"data"`           // Batches.State()
	Task       []byte  `json:"task,omitempty"` // TaskStater.TaskState()
	Config     Config  `json:"config"`
	History    History `json:"history"`
	// Files maps every other file of the checkpoint to its SHA-256, so a
	// checkpoint damaged on disk is detected rather than trusted.
	Files map[string]string `json:"files"`
}

// checkpoint is a loaded checkpoint.
type checkpoint struct {
	Dir     string
	State   State
	Tensors map[string]*tensor.Tensor
}

// stepName is the directory name of the checkpoint after step.
func stepName(step int) string { return fmt.Sprintf("step-%06d", step) }

func parseStepName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "step-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// saveCheckpoint writes a complete checkpoint for st.Step under
// out/checkpoints and points latest at it. The order is what makes it safe
// against kill -9: build in a temporary directory, fsync every file and the
// directory, rename into place, fsync the parent, then replace latest
// atomically; only after that are older checkpoints pruned.
func saveCheckpoint(out string, st *State, params []Param, opt *adamW, task Task, keep int) (string, error) {
	for _, p := range params {
		if !allFinite(p.W.Data) {
			return "", fmt.Errorf("train: refusing to checkpoint step %d: parameter %s has NaN or Inf values", st.Step, p.Name)
		}
	}
	ckdir := filepath.Join(out, checkpointsDir)
	if err := os.MkdirAll(ckdir, 0o755); err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	name := stepName(st.Step)
	tmp, err := os.MkdirTemp(ckdir, ".tmp-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("train: checkpoint %s: %w", filepath.Join(ckdir, name), err)
	}
	if err := task.SaveAdapter(tmp); err != nil {
		return fail(fmt.Errorf("saving adapter: %w", err))
	}
	tensors := map[string]*tensor.Tensor{}
	for i, p := range params {
		tensors["param/"+p.Name] = p.W
		tensors["m/"+p.Name] = tensor.From(opt.m[i], p.W.Shape...)
		tensors["v/"+p.Name] = tensor.From(opt.v[i], p.W.Shape...)
	}
	if err := writeSynced(filepath.Join(tmp, trainerFile), func(w io.Writer) error {
		return writeSafetensors(w, tensors, map[string]string{"format": "golora-trainer"})
	}); err != nil {
		return fail(err)
	}
	// Hash and fsync whatever SaveAdapter wrote as well: its writer may not
	// sync, and the rename below must not publish unsynced data.
	st.Files = map[string]string{}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fail(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		sum, err := hashAndSync(filepath.Join(tmp, e.Name()))
		if err != nil {
			return fail(err)
		}
		st.Files[e.Name()] = sum
	}
	sb, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return fail(err)
	}
	if err := writeSynced(filepath.Join(tmp, stateFile), func(w io.Writer) error {
		_, err := w.Write(sb)
		return err
	}); err != nil {
		return fail(err)
	}
	if err := syncDir(tmp); err != nil {
		return fail(err)
	}
	final := filepath.Join(ckdir, name)
	if _, err := os.Stat(final); err == nil {
		// A stale checkpoint of the same step (an earlier run got this far
		// without moving latest past it): move it aside rather than delete
		// it first, so there is no instant without a complete copy.
		old, err := os.MkdirTemp(ckdir, ".old-"+name+"-")
		if err != nil {
			return fail(err)
		}
		if err := os.Rename(final, filepath.Join(old, name)); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if err := syncDir(ckdir); err != nil {
		return "", fmt.Errorf("train: checkpoint %s: %w", final, err)
	}
	if err := writeAtomic(filepath.Join(ckdir, latestFile), []byte(name+"\n")); err != nil {
		return "", fmt.Errorf("train: checkpoint %s: updating latest: %w", final, err)
	}
	pruneCheckpoints(ckdir, st.Step, keep)
	return final, nil
}

// pruneCheckpoints removes leftovers of interrupted writes and all but the
// keep newest checkpoints up to step (later ones belong to an abandoned
// future and would confuse a fallback scan).
func pruneCheckpoints(ckdir string, step, keep int) {
	entries, err := os.ReadDir(ckdir)
	if err != nil {
		return
	}
	var steps []int
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".tmp-") || strings.HasPrefix(n, ".old-") {
			os.RemoveAll(filepath.Join(ckdir, n))
			continue
		}
		if s, ok := parseStepName(n); ok && e.IsDir() {
			if s > step {
				os.RemoveAll(filepath.Join(ckdir, n))
				continue
			}
			steps = append(steps, s)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(steps)))
	for i, s := range steps {
		if i >= keep {
			os.RemoveAll(filepath.Join(ckdir, stepName(s)))
		}
	}
}

// loadLatest loads the checkpoint latest points to. If latest is missing or
// its target does not verify (only possible through outside damage), the
// newest checkpoint that verifies is used instead (warn says why when latest
// pointed at a damaged one). It
// returns os.ErrNotExist (wrapped) when there is no checkpoint at all.
func loadLatest(out string) (ck *checkpoint, warn string, err error) {
	ckdir := filepath.Join(out, checkpointsDir)
	var errs []error
	if b, err := os.ReadFile(filepath.Join(ckdir, latestFile)); err == nil {
		name := strings.TrimSpace(string(b))
		ck, err := loadCheckpoint(filepath.Join(ckdir, name))
		if err == nil {
			return ck, "", nil
		}
		errs = append(errs, err)
	}
	entries, _ := os.ReadDir(ckdir)
	var steps []int
	for _, e := range entries {
		if s, ok := parseStepName(e.Name()); ok && e.IsDir() {
			steps = append(steps, s)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(steps)))
	for _, s := range steps {
		ck, err := loadCheckpoint(filepath.Join(ckdir, stepName(s)))
		if err == nil {
			// No latest at all is a legitimate state (killed between the
			// first checkpoint's rename and its pointer); a broken target is not.
			if len(errs) > 0 {
				warn = fmt.Sprintf("latest checkpoint unusable (%v); using %s", errors.Join(errs...), ck.Dir)
			}
			return ck, warn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("train: no checkpoint in %s: %w", ckdir, os.ErrNotExist)
	}
	return nil, "", fmt.Errorf("train: no usable checkpoint in %s: %w", ckdir, errors.Join(errs...))
}

// loadCheckpoint reads and verifies one checkpoint directory.
func loadCheckpoint(dir string) (*checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %s: %w", dir, stateFile, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("checkpoint %s: state version %d, this golora reads %d", dir, st.Version, stateVersion)
	}
	if _, ok := st.Files[trainerFile]; !ok {
		return nil, fmt.Errorf("checkpoint %s: state.json lists no %s", dir, trainerFile)
	}
	for name, want := range st.Files {
		got, err := hashFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		if got != want {
			return nil, fmt.Errorf("checkpoint %s: %s is damaged (SHA-256 %s, state.json says %s)", dir, name, got, want)
		}
	}
	tensors, _, err := readSafetensors(filepath.Join(dir, trainerFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	return &checkpoint{Dir: dir, State: st, Tensors: tensors}, nil
}

// restore copies the checkpoint's weights and moments into params and opt,
// reporting every mismatch at once.
func (ck *checkpoint) restore(params []Param, opt *adamW) error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range params {
		for _, kind := range []string{"param/", "m/", "v/"} {
			name := kind + p.Name
			seen[name] = true
			t, ok := ck.Tensors[name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s missing", name))
				continue
			}
			if !tensor.SameShape(t.Shape, p.W.Shape) {
				errs = append(errs, fmt.Errorf("%s has shape %v, the run has %v", name, t.Shape, p.W.Shape))
				continue
			}
			switch kind {
			case "param/":
				copy(p.W.Data, t.Data)
			case "m/":
				copy(opt.m[i], t.Data)
			case "v/":
				copy(opt.v[i], t.Data)
			}
		}
	}
	for name := range ck.Tensors {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("%s is not a trainable parameter of this run", name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("train: checkpoint %s does not fit this run: %w", ck.Dir, errors.Join(errs...))
	}
	return nil
}

// ReadCheckpointConfig returns the config saved in the latest checkpoint
// under out, so `--resume` can start from it and let only the flags the
// user gives override it.
func ReadCheckpointConfig(out string) (Config, error) {
	ck, _, err := loadLatest(out)
	if err != nil {
		return Config{}, err
	}
	return ck.State.Config, nil
}

func allFinite(x []float32) bool {
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// writeSynced creates path, fills it with fn and fsyncs it.
func writeSynced(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// writeAtomic replaces path with data: temp file in the same directory,
// fsync, rename, fsync the directory.
func writeAtomic(path string, data []byte) error {
	return writeAtomicFunc(path, func(w io.Writer) error { _, err := w.Write(data); return err })
}

func writeAtomicFunc(path string, fn func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := fn(f); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

func hashAndSync(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("fsync %s: %w", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
