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

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tensor"
)

const (
	checkpointsDir = "checkpoints"
	latestFile     = "latest"
	stateFile      = "state.json"
	trainerFile    = "trainer_state.safetensors"
	manifestFile   = "SHA256SUMS"
	// stateVersion 2 added SHA256SUMS, which covers state.json too; version
	// 1 checkpoints (no manifest) are still read, with state.json checked
	// for sane values only.
	stateVersion = 2
)

// ErrNoCheckpoint is wrapped by loadLatest's error when the run folder has
// no checkpoint at all (a fresh run). Damaged checkpoints are a different
// error: --resume must never mistake them for a fresh start.
var ErrNoCheckpoint = errors.New("no checkpoint")

// StepRecord is one optimizer step as logged to metrics.jsonl.
type StepRecord struct {
	Step       int     `json:"step"`
	Loss       float64 `json:"loss"`
	LR         float64 `json:"lr"`
	GradNorm   float64 `json:"grad_norm"`
	Tokens     int     `json:"tokens"`       // loss-bearing targets (prompt and padding positions excluded)
	TokensPerS float64 `json:"tokens_per_s"` // of those, per second of the step
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
	if err := safetensors.Write(filepath.Join(tmp, trainerFile), tensors, map[string]string{"format": "golora-trainer"}); err != nil {
		return fail(err)
	}
	// Hash and fsync whatever SaveAdapter wrote as well (subfolders
	// included): its writer may not sync, and the rename below must not
	// publish unsynced data.
	st.Files, err = hashTree(tmp)
	if err != nil {
		return fail(err)
	}
	sb, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return fail(err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(tmp, stateFile), sb); err != nil {
		return fail(err)
	}
	// SHA256SUMS (sha256sum's format) covers every file, state.json
	// included, so no file of a checkpoint is trusted unverified.
	sums, err := hashTree(tmp)
	if err != nil {
		return fail(err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(tmp, manifestFile), formatManifest(sums)); err != nil {
		return fail(err)
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
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
	if err := atomicfile.SyncDir(ckdir); err != nil {
		return "", fmt.Errorf("train: checkpoint %s: %w", final, err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(ckdir, latestFile), []byte(name+"\n")); err != nil {
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
		if strings.HasPrefix(n, ".") { // .tmp-*, .old-*: leftovers of interrupted writes
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
// pointed at a damaged one). It returns an error wrapping ErrNoCheckpoint
// only when the folder holds no checkpoint at all; when checkpoints exist
// but none verifies, the error says what is wrong with each and does not
// wrap ErrNoCheckpoint (or os.ErrNotExist), so no caller starts over.
func loadLatest(out string) (ck *checkpoint, warn string, err error) {
	ckdir := filepath.Join(out, checkpointsDir)
	var errs []error
	tried := ""
	if b, err := os.ReadFile(filepath.Join(ckdir, latestFile)); err == nil {
		name := strings.TrimSpace(string(b))
		if _, ok := parseStepName(name); !ok || name != filepath.Base(name) || len(name) > 64 {
			errs = append(errs, fmt.Errorf("%s names %.64q, not a checkpoint of this run (want step-NNNNNN)", filepath.Join(ckdir, latestFile), name))
		} else if ck, err := loadCheckpoint(filepath.Join(ckdir, name)); err == nil {
			return ck, "", nil
		} else {
			errs = append(errs, err)
			tried = name
		}
	} else if !errors.Is(err, os.ErrNotExist) {
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
		if stepName(s) == tried {
			continue
		}
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
		return nil, "", fmt.Errorf("train: %w in %s: %w", ErrNoCheckpoint, ckdir, os.ErrNotExist)
	}
	// %v, not %w: a missing file inside a checkpoint is damage, not "no
	// checkpoint", and must not satisfy errors.Is(err, os.ErrNotExist).
	return nil, "", fmt.Errorf("train: no intact checkpoint in %s (nothing was deleted):\n  %v", ckdir,
		strings.ReplaceAll(errors.Join(errs...).Error(), "\n", "\n  "))
}

// loadCheckpoint reads and verifies one checkpoint directory: every file
// against SHA256SUMS (state.json included), then state.json's values.
func loadCheckpoint(dir string) (*checkpoint, error) {
	sums, manifestErr := readManifest(filepath.Join(dir, manifestFile))
	if manifestErr == nil {
		if _, ok := sums[stateFile]; !ok {
			return nil, fmt.Errorf("checkpoint %s: %s does not cover %s", dir, manifestFile, stateFile)
		}
		if err := verifyFiles(dir, sums); err != nil {
			return nil, err
		}
	} else if !errors.Is(manifestErr, os.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, manifestErr)
	}
	st, err := parseState(dir)
	if err != nil {
		return nil, err
	}
	if manifestErr != nil && st.Version >= 2 {
		return nil, fmt.Errorf("checkpoint %s: %s is missing", dir, manifestFile)
	}
	if _, ok := st.Files[trainerFile]; !ok {
		return nil, fmt.Errorf("checkpoint %s: state.json lists no %s", dir, trainerFile)
	}
	if manifestErr != nil { // version 1: state.json's own list is all there is
		if err := verifyFiles(dir, st.Files); err != nil {
			return nil, err
		}
	} else {
		for name, sum := range st.Files { // already verified: must agree
			if sums[name] != sum {
				return nil, fmt.Errorf("checkpoint %s: state.json and %s disagree about %.64q", dir, manifestFile, name)
			}
		}
	}
	tensors, _, err := safetensors.ReadAll(filepath.Join(dir, trainerFile))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	return &checkpoint{Dir: dir, State: st, Tensors: tensors}, nil
}

// maxStateBytes bounds state.json; the history of a million steps fits.
const maxStateBytes = 1 << 30

// parseState reads dir/state.json and checks that its values could have
// been written by a run: a hostile or damaged state must not make training
// run with a negative step (a negative learning rate) or the like.
func parseState(dir string) (State, error) {
	var st State
	path := filepath.Join(dir, stateFile)
	fi, err := os.Stat(path)
	if err != nil {
		return st, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxStateBytes {
		return st, fmt.Errorf("checkpoint %s: %s is not a regular file under %d bytes", dir, stateFile, maxStateBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if st, err = decodeState(b, filepath.Base(dir)); err != nil {
		return st, fmt.Errorf("checkpoint %s: %s: %w", dir, stateFile, err)
	}
	return st, nil
}

// decodeState parses and checks the state.json of checkpoint folder dirName.
func decodeState(b []byte, dirName string) (State, error) {
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	return st, st.check(dirName)
}

// check validates a parsed State; dirName is its checkpoint folder's name.
func (st *State) check(dirName string) error {
	if st.Version < 1 || st.Version > stateVersion {
		return fmt.Errorf("state version %d, this golora reads 1 to %d", st.Version, stateVersion)
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if st.Step < 0 || st.TotalSteps < 1 || st.Step > st.TotalSteps {
		bad("step %d of %d: want 0 <= step <= total_steps, total_steps >= 1", st.Step, st.TotalSteps)
	}
	if s, ok := parseStepName(dirName); ok && s != st.Step {
		bad("step %d in folder %s", st.Step, dirName)
	}
	if st.Tokens < 0 || !(st.ElapsedS >= 0) || math.IsInf(st.ElapsedS, 0) {
		bad("tokens %d, elapsed_s %g: want non-negative values", st.Tokens, st.ElapsedS)
	}
	if len(st.History.Steps) > st.Step {
		bad("history holds %d steps, more than step %d", len(st.History.Steps), st.Step)
	}
	for name := range st.Files {
		if !filepath.IsLocal(name) || strings.Contains(name, "\\") {
			bad("file name %.64q leaves the checkpoint folder", name)
		}
	}
	if err := st.Config.Validate(); err != nil {
		bad("config: %v", err)
	}
	return errors.Join(errs...)
}

// verifyFiles checks each named file of dir against its SHA-256.
func verifyFiles(dir string, sums map[string]string) error {
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !filepath.IsLocal(name) {
			return fmt.Errorf("checkpoint %s: file name %.64q leaves the checkpoint folder", dir, name)
		}
		got, err := hashFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		if got != sums[name] {
			return fmt.Errorf("checkpoint %s: %s is damaged (SHA-256 %s, expected %.64s)", dir, name, got, sums[name])
		}
	}
	return nil
}

// hashTree fsyncs and hashes every regular file under dir, keyed by its
// slash-separated path relative to dir.
func hashTree(dir string) (map[string]string, error) {
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		sum, err := hashAndSync(path)
		if err != nil {
			return err
		}
		sums[filepath.ToSlash(rel)] = sum
		return nil
	})
	return sums, err
}

func formatManifest(sums map[string]string) []byte {
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[name], name)
	}
	return []byte(b.String())
}

// readManifest parses a SHA256SUMS file (at most 1 MiB).
func readManifest(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
		return nil, fmt.Errorf("%s: not a regular file under 1 MiB", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseManifest(b)
}

func parseManifest(b []byte) (map[string]string, error) {
	sums := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || name == "" || !filepath.IsLocal(name) {
			return nil, fmt.Errorf("%s line %d: want \"<sha256>  <file>\" with a file inside the checkpoint", manifestFile, i+1)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("%s line %d: %.64q listed twice", manifestFile, i+1, name)
		}
		sums[name] = sum
	}
	return sums, nil
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
