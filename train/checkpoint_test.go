package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckpointDamage: a checkpoint whose files do not match their hashes
// is never trusted; loadLatest falls back to the newest one that verifies.
func TestCheckpointDamage(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Steps, cfg.SaveEvery, cfg.KeepCkpts = 10, 5, 3
	if _, _, _, err := runTrainer(t, cfg, 0); err != nil {
		t.Fatal(err)
	}
	ckdir := filepath.Join(cfg.Out, checkpointsDir)
	tests := []struct {
		name     string
		damage   func(t *testing.T)
		wantStep int
		wantWarn bool
	}{
		{"intact", func(*testing.T) {}, 10, false},
		{"flipped byte in trainer state", func(t *testing.T) { flipByte(t, filepath.Join(ckdir, "step-000010", trainerFile)) }, 5, true},
		{"adapter truncated", func(t *testing.T) { os.Truncate(filepath.Join(ckdir, "step-000010", "adapter_model.safetensors"), 10) }, 5, true},
		{"latest missing", func(t *testing.T) { os.Remove(filepath.Join(ckdir, latestFile)) }, 10, false},
		{"state.json garbage", func(t *testing.T) { os.WriteFile(filepath.Join(ckdir, "step-000010", stateFile), []byte("{"), 0o644) }, 5, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Work on a copy so the cases are independent.
			out := t.TempDir()
			if err := os.CopyFS(out, os.DirFS(cfg.Out)); err != nil {
				t.Fatal(err)
			}
			saved := ckdir
			ckdir = filepath.Join(out, checkpointsDir)
			defer func() { ckdir = saved }()
			tc.damage(t)
			ck, warn, err := loadLatest(out)
			if err != nil {
				t.Fatal(err)
			}
			if ck.State.Step != tc.wantStep || (warn != "") != tc.wantWarn {
				t.Errorf("loaded step %d (warning %q), want step %d, warning %v", ck.State.Step, warn, tc.wantStep, tc.wantWarn)
			}
		})
	}
	// No checkpoint at all is os.ErrNotExist, which --resume treats as a
	// fresh start.
	if _, _, err := loadLatest(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Errorf("empty dir: %v", err)
	}
}

func flipByte(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsLinesOrder(t *testing.T) {
	h := History{
		Steps: []StepRecord{{Step: 1}, {Step: 2}, {Step: 3}},
		Evals: []EvalRecord{{Step: 0}, {Step: 2}, {Step: 3}},
	}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(string(metricsLines(h))), "\n") {
		kind := "s"
		if strings.Contains(l, "val_loss") {
			kind = "e"
		}
		order = append(order, kind+l[len(`{"step":`):len(`{"step":`)+1])
	}
	if got := strings.Join(order, " "); got != "e0 s1 s2 e2 s3 e3" {
		t.Errorf("metrics order %s", got)
	}
}
