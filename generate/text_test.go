package generate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/model"
	"github.com/golora/golora/tokenizer"
)

// TestEOSIDs: generation_config.json's eos_token_id (an id or a list) wins
// over config.json's, as in transformers; a llama2.c tokenizer adds BOS,
// which run.c stops at.
func TestEOSIDs(t *testing.T) {
	m, err := model.Load("") // config.json's eos_token_id: 2
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, genConfig string
		want            []int
	}{
		{"config.json only", "", []int{2}},
		{"list", `{"eos_token_id": [5, 7]}`, []int{5, 7}},
		{"one id", `{"eos_token_id": 9}`, []int{9}},
		{"null keeps config.json", `{"eos_token_id": null}`, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.genConfig != "" {
				if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(tc.genConfig), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := EOSIDs(m, dir, nil); !slices.Equal(got, tc.want) {
				t.Errorf("EOSIDs = %v, want %v", got, tc.want)
			}
		})
	}
	tok, err := tokenizer.ForModel("")
	if err != nil {
		t.Fatal(err)
	}
	if got := EOSIDs(m, "", tok); !slices.Equal(got, []int{2, 1}) {
		t.Errorf("EOSIDs with the llama2.c tokenizer = %v, want [2 1]", got)
	}
}

// TestTextStreamsDecode: the text Text streams, piece by piece, is the
// tokenizer's Decode of the whole continuation, with characters split
// across byte-fallback ids held back until complete; it ends at an EOS id
// (not shown) and at a stop string (cut off).
func TestTextStreamsDecode(t *testing.T) {
	tok, err := tokenizer.ForModel("")
	if err != nil {
		t.Fatal(err)
	}
	prompt := TextPrompt(tok, "Once")
	cont := tok.Encode(" upon a time 😀 there was 中文 and ünïcode.")
	text := NewText(tok, prompt, []int{2}, nil)
	var sb strings.Builder
	held := 0
	for _, id := range cont {
		s, ended := text.Push(id)
		if ended {
			t.Fatalf("ended early at id %d", id)
		}
		if s == "" {
			held++
		}
		sb.WriteString(s)
	}
	sb.WriteString(text.Flush())
	full, before := tok.Decode(append(slices.Clone(prompt), cont...)), tok.Decode(prompt)
	want := strings.TrimPrefix(full, before)
	if got := sb.String(); got != want {
		t.Errorf("streamed %q, want %q", got, want)
	}
	if held < 3+2+2 { // 😀 is 4 byte ids, 中 and 文 3 each
		t.Errorf("%d ids held back; the split characters should hold back at least 7", held)
	}

	text = NewText(tok, prompt, []int{2}, []string{" was"})
	sb.Reset()
	var ended bool
	for _, id := range append(slices.Clone(cont), 2) {
		var s string
		if s, ended = text.Push(id); ended {
			sb.WriteString(s)
			break
		}
		sb.WriteString(s)
	}
	if got, _, _ := strings.Cut(want, " was"); !ended || sb.String() != got {
		t.Errorf("with stop %q: streamed %q (ended %v), want %q", " was", sb.String(), ended, got)
	}

	// At EOS, what a stop string's prefix held back (" upon") is shown.
	text = NewText(tok, prompt, []int{2}, []string{" upon the"})
	var s string
	for _, id := range cont[:2] {
		p, _ := text.Push(id)
		s += p
	}
	if rest, ended := text.Push(2); !ended || s+rest != strings.TrimPrefix(tok.Decode(append(slices.Clone(prompt), cont[:2]...)), before) {
		t.Errorf("EOS: ended %v, text %q", ended, s+rest)
	}
}
