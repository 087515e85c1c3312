package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golora/golora/format/safetensors"
)

// TestResumeNeverStartsOver is issue 12's repro 1: a file listed in
// state.json missing from every checkpoint made --resume start again from
// step 0 with the default settings and delete the old checkpoints. Now
// both the config lookup and the trainer fail, and nothing is deleted.
func TestResumeNeverStartsOver(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps, cfg.SaveEvery, cfg.Seed = 60, 10, 3
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatal(err)
	}
	ckdir := filepath.Join(cfg.Out, checkpointsDir)
	for _, s := range []string{"step-000050", "step-000060"} {
		if err := os.Remove(filepath.Join(ckdir, s, "adapter_model.safetensors")); err != nil {
			t.Fatal(err)
		}
	}
	before := listTree(t, cfg.Out)

	// The command line's config lookup (trainconfig.ResolveResume reads
	// the checkpoint's config): the old settings or an error, never the
	// defaults, which would change steps and seed.
	_, err := ReadCheckpointConfig(cfg.Out)
	if err == nil || errors.Is(err, ErrNoCheckpoint) || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadCheckpointConfig with no intact checkpoint: %v, want an error that is not 'no checkpoint'", err)
	}
	if !strings.Contains(err.Error(), "adapter_model.safetensors") || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Errorf("error does not say what is damaged: %v", err)
	}

	cfg.Resume = true
	sum, steps, _, err := runTrainer(t, cfg, 0)
	if err == nil || len(steps) > 0 || sum != nil {
		t.Fatalf("trainer resumed with no intact checkpoint: err %v, %d steps", err, len(steps))
	}
	if after := listTree(t, cfg.Out); !slices.Equal(before, after) {
		t.Errorf("files changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestResumeFallsBack: a damaged latest checkpoint gives way to the newest
// intact one, with a warning in the log.
func TestResumeFallsBack(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps, cfg.SaveEvery, cfg.KeepCkpts = 10, 5, 2
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(cfg.Out, checkpointsDir, "step-000010", trainerFile))
	cfg.Resume, cfg.Steps = true, 12
	task, tb, valid := testSetup(cfg)
	var log bytes.Buffer
	sum, err := (&Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &log}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "warning: latest checkpoint unusable") || !strings.Contains(log.String(), "resumed from "+filepath.Join(cfg.Out, checkpointsDir, "step-000005")) {
		t.Errorf("log does not warn and resume from step 5:\n%s", log.String())
	}
	if sum.Steps != 12 || len(sum.History.Steps) != 12 {
		t.Errorf("summary: %d steps, %d records", sum.Steps, len(sum.History.Steps))
	}
}

// TestStateCovered is repro 8's state.json half: state.json is under the
// checkpoint's hashes (an edited step is damage), latest must name a
// checkpoint of this run, and a state with impossible values is refused
// even where no hash covers it (a version-1 checkpoint).
func TestStateCovered(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps, cfg.SaveEvery, cfg.KeepCkpts = 10, 5, 3
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatal(err)
	}
	other := testConfig(t.TempDir())
	other.Steps = 7
	if _, _, _, err := runTrainer(t, other, 0); err != nil {
		t.Fatal(err)
	}
	editState := func(t *testing.T, dir string, f func(map[string]any)) {
		path := filepath.Join(dir, stateFile)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ = json.Marshal(m)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rel, _ := filepath.Rel(filepath.Join(cfg.Out, checkpointsDir), filepath.Join(other.Out, checkpointsDir, "step-000007"))
	tests := []struct {
		name   string
		damage func(t *testing.T, ckdir string)
	}{
		{"step -5 in state.json", func(t *testing.T, ckdir string) {
			editState(t, filepath.Join(ckdir, "step-000010"), func(m map[string]any) { m["step"] = -5 })
		}},
		{"state.json edited to step 3", func(t *testing.T, ckdir string) {
			editState(t, filepath.Join(ckdir, "step-000010"), func(m map[string]any) { m["step"] = 3 })
		}},
		{"SHA256SUMS removed", func(t *testing.T, ckdir string) { os.Remove(filepath.Join(ckdir, "step-000010", manifestFile)) }},
		{"latest points into another run", func(t *testing.T, ckdir string) {
			os.WriteFile(filepath.Join(ckdir, latestFile), []byte(rel+"\n"), 0o644)
		}},
		{"version 1, negative step, no manifest", func(t *testing.T, ckdir string) {
			dir := filepath.Join(ckdir, "step-000010")
			os.Remove(filepath.Join(dir, manifestFile))
			editState(t, dir, func(m map[string]any) { m["version"] = 1; m["step"] = -5 })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if err := os.CopyFS(out, os.DirFS(cfg.Out)); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, filepath.Join(out, checkpointsDir))
			ck, warn, err := loadLatest(out)
			if err != nil {
				t.Fatal(err)
			}
			want := 5
			if strings.HasPrefix(tc.name, "latest") {
				want = 10 // the pointer is bad, the checkpoints are fine
			}
			if ck.State.Step != want || warn == "" || ck.Dir != filepath.Join(out, checkpointsDir, stepName(want)) {
				t.Errorf("loaded %s step %d (warning %q), want this run's step %d with a warning", ck.Dir, ck.State.Step, warn, want)
			}
		})
	}
	// An intact version-1 checkpoint (no manifest) still loads.
	out := t.TempDir()
	os.CopyFS(out, os.DirFS(cfg.Out))
	dir := filepath.Join(out, checkpointsDir, "step-000010")
	os.Remove(filepath.Join(dir, manifestFile))
	editState(t, dir, func(m map[string]any) { m["version"] = 1 })
	if ck, warn, err := loadLatest(out); err != nil || ck.State.Step != 10 || warn != "" {
		t.Errorf("version-1 checkpoint: %v, warning %q", err, warn)
	}
}

// TestOneRunPerFolder is repro 2: a fresh train into a folder with a run
// needs --resume or --overwrite, and a second trainer on a folder in use
// fails instead of deleting the first one's checkpoints.
func TestOneRunPerFolder(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps = 5
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, cfg.Out)
	_, _, _, err := runTrainer(t, cfg, 0)
	if !errors.Is(err, ErrRunExists) || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("fresh train into a used folder: %v, want ErrRunExists naming --overwrite", err)
	}
	if after := listTree(t, cfg.Out); !slices.Equal(before, after) {
		t.Errorf("the refused run changed files:\nbefore %v\nafter  %v", before, after)
	}
	cfg.Overwrite = true
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatalf("--overwrite: %v", err)
	}
	cfg.Overwrite = false

	// Two trainers: the second starts while the first is inside a step.
	cfg2 := testConfig(t.TempDir())
	cfg2.Steps = 5
	task, tb, valid := testSetup(cfg2)
	second := make(chan error, 1)
	first := &Trainer{Config: cfg2, Task: task, Train: tb, Valid: valid, Log: &bytes.Buffer{},
		OnStep: func(r StepRecord) {
			if r.Step == 2 {
				c := cfg2
				c.Overwrite = true // even --overwrite must not take a live run's folder
				_, _, _, err := runTrainer(t, c, 0)
				second <- err
			}
		}}
	if _, err := first.Run(context.Background()); err != nil {
		t.Fatalf("first trainer: %v", err)
	}
	if err := <-second; !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Errorf("second trainer: %v, want ErrLocked naming the pid", err)
	}
	if _, err := os.Stat(filepath.Join(cfg2.Out, lockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock left behind after the run: %v", err)
	}

	// A lock whose process is gone is stale: noted and replaced.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	stale, _ := json.Marshal(lockInfo{PID: cmd.Process.Pid, Host: host, Started: "2026-01-01T00:00:00Z"})
	os.WriteFile(filepath.Join(cfg2.Out, lockFile), stale, 0o644)
	cfg2.Resume, cfg2.Steps = true, 6
	task, tb, valid = testSetup(cfg2)
	var log bytes.Buffer
	if _, err := (&Trainer{Config: cfg2, Task: task, Train: tb, Valid: valid, Log: &log}).Run(context.Background()); err != nil {
		t.Fatalf("stale lock: %v", err)
	}
	if !strings.Contains(log.String(), "stale lock") {
		t.Errorf("no note about the stale lock:\n%s", log.String())
	}
}

// divergingTask scales the loss the trainer sees after a given step,
// modelling a run whose loss blows up while staying finite.
type divergingTask struct {
	*softmaxTask
	from, steps int
	factor      float64
}

func (d *divergingTask) Step(ids, targets []int, B, T int, w float32) (float64, int) {
	l, n := d.softmaxTask.Step(ids, targets, B, T, w)
	d.steps++
	if d.steps >= d.from {
		l *= d.factor
	}
	return l, n
}

func (d *divergingTask) VocabSize() int { return d.V }

// TestDivergenceStops is repro 4: a loss that stays far above its start
// stops the run with a non-zero result, the last good checkpoint kept and
// the diverged weights not saved as the result.
func TestDivergenceStops(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps, cfg.SaveEvery, cfg.DivergenceSteps = 40, 5, 4
	base, tb, valid := testSetup(cfg)
	task := &divergingTask{softmaxTask: base, from: 12, factor: 10}
	var log bytes.Buffer
	_, err := (&Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &log}).Run(context.Background())
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("err = %v, want ErrDiverged", err)
	}
	for _, want := range []string{"step 15", "step-000010", "--divergence-threshold"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	ck, _, err := loadLatest(cfg.Out)
	if err != nil || ck.State.Step != 10 {
		t.Fatalf("latest after divergence: %v %v (a save at step 15 would have stored diverged weights)", ck, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "adapter_model.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a diverged run saved its result: %v", err)
	}

	// ln(vocab): a loss at a uniform guess is divergence even below 3x.
	d := &divergence{threshold: 3, patience: 2, lnVocab: math.Log(12)}
	if d.observe(1, 1.0, 1, 1.0) || d.observe(2, 2.6, 1, 1.0) || !d.observe(3, 2.6, 1, 1.0) || !strings.Contains(d.reason, "ln(vocab)") {
		t.Errorf("ln(vocab) rule: %q", d.reason)
	}
	// An exploding gradient norm counts too; threshold 0 turns it all off.
	d = &divergence{threshold: 3, patience: 1}
	for i := 1; i <= 6; i++ {
		d.observe(i, 1, 1, 1)
	}
	if !d.observe(7, 1, 1e5, 1) || !strings.Contains(d.reason, "gradient norm") {
		t.Errorf("gradient explosion not caught: %q", d.reason)
	}
	if off := (&divergence{}); off.observe(1, 1e9, 1e9, 1) {
		t.Error("threshold 0 still stops")
	}
	cfg.Out, cfg.DivergenceThreshold = t.TempDir(), 0
	base, tb, valid = testSetup(cfg)
	if _, err := (&Trainer{Config: cfg, Task: &divergingTask{softmaxTask: base, from: 12, factor: 10}, Train: tb, Valid: valid, Log: &log}).Run(context.Background()); err != nil {
		t.Errorf("--divergence-threshold 0: %v", err)
	}
}

// scriptedEval returns fixed validation losses in turn (one batch per
// evaluation: --eval-batches 1).
type scriptedEval struct {
	*softmaxTask
	losses []float64
	n      int
}

func (s *scriptedEval) Eval(ids, targets []int, B, T int) (float64, int) {
	l := s.losses[min(s.n, len(s.losses)-1)]
	s.n++
	return l, 1
}

// TestKeepBest: the saved result is the best validated weights, not the
// last step's; --keep-best=false keeps the old behaviour.
func TestKeepBest(t *testing.T) {
	for _, keep := range []bool{true, false} {
		cfg := testConfig(t.TempDir())
		cfg.Steps, cfg.EvalEvery, cfg.EvalBatches, cfg.KeepBest = 20, 5, 1, keep
		base, tb, valid := testSetup(cfg)
		task := &scriptedEval{softmaxTask: base, losses: []float64{3, 2, 1, 1.5, 2}} // best at step 10
		var at10, last []float32
		tr := &Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &bytes.Buffer{},
			OnEval: func(r EvalRecord) {
				if r.Step == 10 {
					at10 = slices.Clone(base.W.Data)
				}
				last = slices.Clone(base.W.Data)
			}}
		sum, err := tr.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		saved, _, err := safetensors.ReadAll(filepath.Join(cfg.Out, "adapter_model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		want := last
		if keep {
			want = at10
		}
		if !slices.Equal(saved["head.weight"].Data, want) || sum.KeptBest != keep || sum.BestValStep != 10 {
			t.Errorf("keep-best %v: saved weights are not step %d's (kept %v, best step %d)", keep, map[bool]int{true: 10, false: 20}[keep], sum.KeptBest, sum.BestValStep)
		}
		// The final checkpoint still holds the last step, for --resume.
		ck, _, err := loadLatest(cfg.Out)
		if err != nil || ck.State.Step != 20 || !slices.Equal(ck.Tensors["param/head.weight"].Data, last) {
			t.Errorf("keep-best %v: final checkpoint: %v", keep, err)
		}
	}
}

// listTree lists every path under dir with its size.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s:%v:%d", rel, fi.Mode(), fi.Size()))
		return nil
	})
	return out
}

// TestResumeFromStepZero: a run interrupted before its first step leaves a
// step-0 checkpoint, which --resume continues rather than calling the
// folder an earlier run.
func TestResumeFromStepZero(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps = 4
	task, tb, valid := testSetup(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: &bytes.Buffer{}}).Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	cfg.Resume = true
	if sum, _, _, err := runTrainer(t, cfg, 0); err != nil || sum.Steps != 4 {
		t.Fatalf("resume from step 0: %v", err)
	}
}

// TestLockAcrossHosts: a lock from another host counts as live while its
// holder renews it, and as stale once it has been silent for lockStale.
func TestLockAcrossHosts(t *testing.T) {
	out := t.TempDir()
	path := filepath.Join(out, lockFile)
	b, _ := json.Marshal(lockInfo{PID: 1, Host: "another-node", Started: "2026-01-01T00:00:00Z"})
	os.WriteFile(path, b, 0o644)
	if _, err := lockRun(out, func(string, ...any) {}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another-node") {
		t.Fatalf("fresh lock from another host: %v", err)
	}
	old := time.Now().Add(-2 * lockStale)
	os.Chtimes(path, old, old)
	var notes []string
	unlock, err := lockRun(out, func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) })
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "stale lock") {
		t.Fatalf("silent lock from another host: %v %q", err, notes)
	}
	// Our lock is removed on unlock, and renewed while held.
	unlock()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock not removed: %v", err)
	}
	saved := lockBeat
	defer func() { lockBeat = saved }()
	lockBeat = 20 * time.Millisecond
	unlock, err = lockRun(out, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	os.Chtimes(path, old, old)
	time.Sleep(200 * time.Millisecond)
	if fi, err := os.Stat(path); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Errorf("lock not renewed while held: %v", err)
	}
}
