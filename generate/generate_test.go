package generate

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/golora/golora/model"
)

// Greedy generation through the KV cache must pick, at every step, the
// argmax of a full causal forward over the whole sequence so far.
func TestRunMatchesFullForward(t *testing.T) {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{1, 403, 407}
	got, err := Run(m, prompt, Options{MaxNew: 12, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Fatalf("generated %d tokens, want 12", len(got))
	}
	seq := append([]int(nil), prompt...)
	V := m.Config().VocabSize
	for i, id := range got {
		logits := m.Forward(seq, 1, len(seq))
		want := Argmax(logits[(len(seq)-1)*V:])
		if id != want {
			t.Fatalf("token %d: cache path chose %d, full forward %d", i, id, want)
		}
		seq = append(seq, id)
	}
}

func TestRunStopsAtEOSAndEmitFalse(t *testing.T) {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{1}
	ref, err := Run(m, prompt, Options{MaxNew: 8, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Run(m, prompt, Options{MaxNew: 8, EOS: []int{ref[2]}}, nil)
	if len(got) != 3 {
		t.Fatalf("EOS %d at index 2: generated %v", ref[2], got)
	}
	n := 0
	got, _ = Run(m, prompt, Options{MaxNew: 8, IgnoreEOS: true}, func(int) bool { n++; return n < 4 })
	if len(got) != 4 {
		t.Fatalf("emit stop after 4: generated %d", len(got))
	}
}

// TestRunRefusesBadLimitsAndLogits is issue 12's repros 5 and 8: a model
// with NaN weights no longer prints token 0 forever, --max-new-tokens -5 is
// an error rather than "unset", and a limit past the context is refused
// instead of stopping short silently.
func TestRunRefusesBadLimitsAndLogits(t *testing.T) {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{-5, 0} {
		if _, err := Run(m, []int{1}, Options{MaxNew: n}, nil); err == nil || !strings.Contains(err.Error(), "--max-new-tokens") {
			t.Errorf("MaxNew %d: %v", n, err)
		}
	}
	maxPos := m.Config().MaxPositionEmbeddings
	if _, err := Run(m, []int{1, 2}, Options{MaxNew: maxPos}, nil); !errors.Is(err, ErrContext) || !strings.Contains(err.Error(), fmt.Sprint(maxPos-2)) {
		t.Errorf("limit past the context: %v", err)
	}
	if got, err := Run(m, []int{1, 2}, Options{MaxNew: maxPos - 2, IgnoreEOS: true}, nil); err != nil || len(got) != maxPos-2 {
		t.Errorf("limit exactly at the context: %d tokens, %v", len(got), err)
	}
	for _, p := range m.Params() {
		if strings.Contains(p.Name, "layers.2.") {
			p.W.Data[0] = float32(math.NaN())
			break
		}
	}
	for _, s := range []*Sampler{{}, NewSampler(1, 0, 1, 1, 3)} {
		got, err := Run(m, []int{1}, Options{MaxNew: 5, Sampler: s}, nil)
		if !errors.Is(err, ErrNonFiniteLogits) || len(got) != 0 {
			t.Errorf("NaN weights (temperature %g): emitted %v, err %v", s.Temperature, got, err)
		}
	}
	if err := CheckLogits([]float32{float32(math.Inf(-1)), float32(math.Inf(-1))}); err == nil {
		t.Error("all -Inf logits accepted")
	}
	if err := CheckLogits([]float32{float32(math.Inf(-1)), 0}); err != nil {
		t.Errorf("a masked logit refused: %v", err)
	}
}
