package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// TestExperimentCommand runs the CI smoke sweep through the CLI with one
// seed and checks the report files and the per-run lines.
func TestExperimentCommand(t *testing.T) {
	out := t.TempDir()
	var buf bytes.Buffer
	rootCmd.SetOut(&buf)
	rootCmd.SetArgs([]string{"experiment", filepath.Join("..", "..", "experiment", "testdata", "smoke.yaml"), "--seeds", "1", "--out", out})
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if n := strings.Count(buf.String(), "final val loss"); n != 4 {
		t.Errorf("%d run lines, want 2 inits x 2 lrs x 1 seed:\n%s", n, buf.String())
	}
	for _, f := range []string{"results.csv", "results.md", "loss-vs-lr.png", "curves.png", "sweep.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestLadderScript runs experiment/bases/ladder.sh, the one command behind
// the width ladder in docs/EXPERIMENTS.md, cut to one width, 2 pretraining
// steps and the quick width sweep at 1 seed: it must pretrain the base and
// run the sweep on it.
func TestLadderScript(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	root, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	c := exec.Command("sh", filepath.Join(root, "experiment", "bases", "ladder.sh"))
	c.Env = append(os.Environ(), "GOLORA=env GOLORA_TEST_MAIN=1 "+os.Args[0], "OUT="+out,
		"WIDTHS=64", "STEPS=2", "SWEEP_FLAGS=--quick --seeds 1")
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("ladder.sh: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "bases", "h64", "model.safetensors")); err != nil {
		t.Errorf("no pretrained base: %v", err)
	}
	f, err := os.Open(filepath.Join(out, "width-h64", "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+2*3 {
		t.Errorf("width-h64/results.csv: %d rows (%v), want a header and 2 inits x 3 rates", len(rows), err)
	}
}
