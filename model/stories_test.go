package model

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestStoriesLogits compares the embedded model's logits for "Once upon a
// time" with llama2.c run.c's, position by position, through both the
// batch Forward and the KV-cache Step.
func TestStoriesLogits(t *testing.T) {
	ref := struct{ Rows []testutil.StoriesRow }{testutil.StoriesLogits(t)}
	m, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, r := range ref.Rows {
		ids = append(ids, r.InputToken)
	}
	V := m.Config().VocabSize
	logits := append([]float32(nil), m.Forward(ids, 1, len(ids))...)
	c := m.NewCache(1, 16)
	for i, r := range ref.Rows {
		testutil.AllClose(t, "forward pos "+string(rune('0'+r.Pos)), logits[i*V:(i+1)*V], r.Logits, 0, 2e-5)
		step, err := m.Step(c, [][]int{{r.InputToken}})
		if err != nil {
			t.Fatal(err)
		}
		testutil.AllClose(t, "step pos "+string(rune('0'+r.Pos)), step, r.Logits, 0, 2e-5)
	}
}

// TestStoriesGreedy decodes 64 tokens greedily from BOS and compares them
// with run.c -t 0 token for token.
func TestStoriesGreedy(t *testing.T) {
	path := testutil.Shared(t, "models", "stories260K", "reference", "greedy_outputs.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Command        string `json:"command"`
			PromptTokenIDs []int  `json:"prompt_token_ids"`
			TokenIDs       []int  `json:"token_ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range ref.Cases {
		if len(tc.TokenIDs) == 0 {
			continue // sampled cases belong to the generate package
		}
		t.Run(tc.Command, func(t *testing.T) {
			want := tc.TokenIDs
			c := m.NewCache(1, len(want))
			got := append([]int(nil), tc.PromptTokenIDs...)
			logits, err := m.Step(c, [][]int{tc.PromptTokenIDs})
			if err != nil {
				t.Fatal(err)
			}
			for len(got) < len(want) {
				next := argmax(logits)
				got = append(got, next)
				if len(got) == len(want) {
					break
				}
				if logits, err = m.Step(c, [][]int{{next}}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("token %d: got %d, want %d\ngot  %v\nwant %v", i, got[i], want[i], got, want)
				}
			}
		})
	}
}
