package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReferencesRecompute runs testdata/check.py, which recomputes the
// fixtures' losses, logits, gradients and merged models in float64 PyTorch
// from the copied weights and fails on any mismatch (about 1 s).
func TestReferencesRecompute(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not rerunning the PyTorch reference check")
	}
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import torch, numpy").Run(); err != nil {
		if os.Getenv("GOLORA_REQUIRE_TORCHREF") != "" {
			t.Fatalf("%s with torch and numpy is required (GOLORA_REQUIRE_TORCHREF): %v", python, err)
		}
		t.Skipf("%s cannot import torch and numpy (apt-get install python3-torch python3-numpy); testdata used as it is", python)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, filepath.Join(root, "testdata", "check.py")).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("testdata/check.py: %v", err)
	}
}
