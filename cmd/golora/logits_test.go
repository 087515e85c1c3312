package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestGenerateLogitsOut: --logits-out writes one row of 512 float32 (the
// embedded vocabulary) per position fed: the 3 prompt tokens and the first
// 4 of the 5 generated ones.
func TestGenerateLogitsOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logits.f32")
	runGolora(t, "generate", "--prompt-ids", "1,403,407", "--temperature", "0", "--max-new-tokens", "5", "--ignore-eos", "--print-ids", "--logits-out", path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(4 * 512 * (3 + 4)); st.Size() != want {
		t.Fatalf("--logits-out wrote %d bytes, want %d", st.Size(), want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("%d files beside the logits (a temporary file left?)", len(entries))
	}
}
