//go:build unix

package model

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNamedPipeModel is repro 8: a named pipe as model.safetensors (or as
// the model path) is refused instead of blocking forever.
func TestNamedPipeModel(t *testing.T) {
	dir := savedTiny(t)
	path := filepath.Join(dir, "model.safetensors")
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, p := range []string{dir, path} {
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Load(%s) with a FIFO: %v", p, err)
		}
	}
}
