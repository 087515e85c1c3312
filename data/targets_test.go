package data

import (
	"slices"
	"testing"
)

// TestExampleTargets: one example's targets are its labels shifted left by
// one, the last position scored against nothing, exactly as a batch row of
// the same length holds them.
func TestExampleTargets(t *testing.T) {
	const I = IgnoreIndex
	ex := Example{Tokens: []int{1, 5, 6, 7, 2}, Labels: []int{I, I, 6, 7, 2}}
	want := []int{I, 6, 7, 2, I}
	if got := ex.Targets(); !slices.Equal(got, want) {
		t.Fatalf("Targets = %v, want %v", got, want)
	}
	bs, _, err := Batches([]Example{ex}, BatchOptions{BatchSize: 1, SeqLen: len(ex.Tokens)})
	if err != nil {
		t.Fatal(err)
	}
	// The batch row's last input is padding: its last token is a target only.
	if !slices.Equal(bs[0].Targets, want) || !slices.Equal(bs[0].IDs[:4], ex.Tokens[:4]) {
		t.Errorf("batch row: ids %v targets %v, want %v… %v", bs[0].IDs, bs[0].Targets, ex.Tokens[:4], want)
	}
	if n, m := ex.LossTokens(), len(slices.DeleteFunc(ex.Targets(), func(v int) bool { return v == I })); n != m {
		t.Errorf("LossTokens %d, but %d targets carry loss", n, m)
	}
	if got := (Example{}).Targets(); len(got) != 0 {
		t.Errorf("empty example: %v", got)
	}
}
