package generate

import (
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
