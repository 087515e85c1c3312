package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExperimentSlurmFlags checks the Slurm flags' wiring: --dry-run writes
// the array script from the command line's options, the flags that need
// --slurm say so, and collect reads the folder back.
func TestExperimentSlurmFlags(t *testing.T) {
	t.Cleanup(resetFlags)
	sweep := filepath.Join("..", "..", "experiment", "testdata", "smoke.yaml")
	run := func(args ...string) (string, error) {
		resetFlags()
		var buf bytes.Buffer
		rootCmd.SetOut(&buf)
		rootCmd.SetArgs(args)
		err := rootCmd.Execute()
		rootCmd.SetOut(nil)
		rootCmd.SetArgs(nil)
		return buf.String(), err
	}
	out := t.TempDir()
	got, err := run("experiment", sweep, "--quick", "--slurm", "--dry-run", "--max-parallel", "2", "--slurm-opts", "--partition=cpu", "--out", out)
	if err != nil || !strings.Contains(got, "not submitted") {
		t.Fatalf("--dry-run: %v\n%s", err, got)
	}
	b, err := os.ReadFile(filepath.Join(out, "slurm", "sweep.sbatch"))
	if err != nil || !strings.Contains(string(b), "#SBATCH --array=0-7%2\n") || !strings.Contains(string(b), "#SBATCH --partition=cpu\n") {
		t.Errorf("sweep.sbatch (%v):\n%s", err, b)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"experiment", sweep, "--dry-run", "--out", out}, "need --slurm"},
		{[]string{"experiment", sweep, "--max-parallel", "3", "--out", out}, "need --slurm"},
		{[]string{"experiment", sweep, "--slurm", "--run-index", "0", "--out", out}, "cannot go with --slurm"},
		{[]string{"experiment", "collect", out}, "8 runs are not finished"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	// One array task's command line, then collect sees its run.
	if _, err := run("experiment", filepath.Join(out, "sweep.yaml"), "--run-index", "5", "--out", out); err != nil {
		t.Fatal(err)
	}
	got, _ = run("experiment", "collect", out)
	if !strings.Contains(got, "1 of 8 runs finished") || !strings.Contains(got, "run 0 ") || strings.Contains(got, "run 5 ") {
		t.Errorf("collect after one run:\n%s", got)
	}
}
