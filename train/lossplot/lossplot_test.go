package lossplot

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/golora/golora/train"
)

// TestWrite draws a history with enough steps for the smoothed line, a
// non-finite loss (left out) and evaluations, into a complete PNG with no
// temporary file left beside it.
func TestWrite(t *testing.T) {
	var h train.History
	for s := 1; s <= 60; s++ {
		loss := 3 / math.Sqrt(float64(s))
		if s == 30 {
			loss = math.NaN()
		}
		h.Steps = append(h.Steps, train.StepRecord{Step: s, Loss: loss})
	}
	for s := 0; s <= 60; s += 20 {
		h.Evals = append(h.Evals, train.EvalRecord{Step: s, ValLoss: 3 / math.Sqrt(float64(s+1))})
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "loss.png")
	if err := Write(path, h); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("loss.png: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 400 || r.Dy() < 200 {
		t.Errorf("loss.png is %v", r)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left %d files in the folder, want loss.png only", len(ents))
	}
	// An empty history (a run stopped before its first step) still draws.
	if err := Write(path, train.History{}); err != nil {
		t.Errorf("empty history: %v", err)
	}
}
