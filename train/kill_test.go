//go:build unix

package train

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const killHelperEnv = "GOLORA_TRAIN_KILL_HELPER_OUT"

func killConfig(out string) Config {
	cfg := testConfig(out)
	cfg.Steps, cfg.SaveEvery, cfg.EvalEvery = 400, 1, 10
	cfg.Resume = true
	return cfg
}

// TestKillHelper is not a test: it is the child process of TestKill9,
// training with a checkpoint after every step until it is killed.
func TestKillHelper(t *testing.T) {
	out := os.Getenv(killHelperEnv)
	if out == "" {
		t.Skip("helper process for TestKill9")
	}
	cfg := killConfig(out)
	task, tb, valid := testSetup(cfg)
	if _, err := (&Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: io.Discard}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestKill9 is the kill test: a run checkpointing every step is
// killed with SIGKILL at random moments (most of its time is spent writing
// checkpoints, so most kills land mid-write); after every kill the latest
// checkpoint must load and verify, and after the last one a resumed run
// must finish with exactly the losses and adapter bytes of a run that was
// never interrupted.
func TestKill9(t *testing.T) {
	if os.Getenv(killHelperEnv) != "" {
		t.Skip("inside the helper")
	}
	kills := 6
	if testing.Short() {
		kills = 3
	}
	out := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	midWrite, lastStep := 0, -1
	// Keep killing until there were enough kills and at least one
	// checkpoint exists; on a loaded machine the helper may not even reach
	// its first step before the early kills, so later delays grow.
	for i := 0; i < kills || (lastStep < 1 && i < 4*kills); i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killHelperEnv+"="+out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(50+r.IntN(400)) * time.Millisecond
		if i >= kills {
			delay *= time.Duration(i - kills + 2)
		}
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper was not killed (finished first?): %v", err)
		}
		entries, _ := os.ReadDir(filepath.Join(out, checkpointsDir))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				midWrite++
				break
			}
		}
		ck, warn, err := loadLatest(out)
		if errors.Is(err, os.ErrNotExist) {
			continue // killed before its first checkpoint
		}
		if err != nil || warn != "" {
			t.Fatalf("kill %d after %v: checkpoint unusable: %v %s", i+1, delay, err, warn)
		}
		if ck.State.Step < lastStep {
			t.Fatalf("kill %d: latest checkpoint went back from step %d to %d", i+1, lastStep, ck.State.Step)
		}
		lastStep = ck.State.Step
	}
	t.Logf("kills: %d mid-write; last checkpoint at step %d", midWrite, lastStep)
	if lastStep < 1 {
		t.Fatalf("no checkpoint was ever written")
	}

	// Finish the interrupted run (checkpoints no longer matter), and do the
	// same run without interruption.
	cfg := killConfig(out)
	cfg.SaveEvery = 0
	task, tb, valid := testSetup(cfg)
	if _, err := (&Trainer{Config: cfg, Task: task, Train: tb, Valid: valid, Log: io.Discard}).Run(context.Background()); err != nil {
		t.Fatalf("resume after kill -9: %v", err)
	}
	ref := killConfig(t.TempDir())
	ref.Resume, ref.SaveEvery = false, 0
	task, tb, valid = testSetup(ref)
	if _, err := (&Trainer{Config: ref, Task: task, Train: tb, Valid: valid, Log: io.Discard}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := stripElapsed(t, filepath.Join(out, "metrics.jsonl")), stripElapsed(t, filepath.Join(ref.Out, "metrics.jsonl")); a != b {
		t.Errorf("metrics of the killed+resumed run differ from the uninterrupted run")
	}
	for _, f := range []string{"adapter_model.safetensors", "adapter_config.json"} {
		a, _ := os.ReadFile(filepath.Join(out, f))
		b, _ := os.ReadFile(filepath.Join(ref.Out, f))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s differs from the uninterrupted run", f)
		}
	}
}
