package tokenizer

import (
	"path/filepath"
	"slices"
	"testing"

	tiktoken "github.com/tiktoken-go/tokenizer"
)

// TestTiktokenGPT2 compares GPT-2 ids with github.com/tiktoken-go/tokenizer's
// r50k_base (GPT-2's encoding, with its vocabulary compiled into the test
// binary) on the reference corpus.
func TestTiktokenGPT2(t *testing.T) {
	dir := refDir(t)
	tok := npmTokenizer(t, "gpt2")
	codec, err := tiktoken.Get(tiktoken.R50kBase)
	if err != nil {
		t.Fatal(err)
	}
	var cases []refCase
	readJSON(t, filepath.Join(dir, "cases.json"), &cases)
	fails := 0
	for _, c := range cases {
		want32, _, err := codec.Encode(c.Text)
		if err != nil {
			t.Fatalf("%s: tiktoken: %v", c.Name, err)
		}
		want := make([]int, len(want32))
		for i, id := range want32 {
			want[i] = int(id)
		}
		if got := tok.Encode(c.Text); !slices.Equal(got, want) {
			fails++
			if fails <= 5 {
				t.Errorf("%s %q: %s", c.Name, trunc(c.Text), firstDiff(tok, got, want))
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d cases differ from tiktoken", fails, len(cases))
	}
}
