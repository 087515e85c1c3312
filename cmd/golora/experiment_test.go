package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
