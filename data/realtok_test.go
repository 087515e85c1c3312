package data

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tokenizer"
)

// With real tokenizers (byte-level BPE and llama2.c SentencePiece), the
// loss-carrying tokens decode to exactly the completion / assistant turns,
// and the tokens to exactly the text the model is meant to see.
func TestRealTokenizers(t *testing.T) {
	in := strings.Join([]string{
		`{"text":"Once upon a time, there was a little cat."}`,
		`{"prompt":"Q: What is two plus two?\nA:","completion":" Four."}`,
		`{"messages":[{"role":"system","content":"You are kind."},{"role":"user","content":"Hi there"},{"role":"assistant","content":"Hello! How are you?"},{"role":"user","content":"Fine."},{"role":"assistant","content":"Good to hear."}]}`,
	}, "\n")
	for _, name := range []string{"tiny-random-gpt2", "stories260K/tok512.bin"} {
		t.Run(name, func(t *testing.T) {
			root := testutil.Shared(t, "models", strings.Split(name, "/")[0])
			tok, err := tokenizer.LoadFull(filepath.Join(root, strings.TrimPrefix(name, strings.Split(name, "/")[0])))
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := TemplateOf(tok)
			if err != nil || tmpl == nil {
				t.Fatalf("TemplateOf: %v, %v", tmpl, err)
			}
			ds, st, err := LoadReader(strings.NewReader(in), "real.jsonl", tok, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != 3 {
				t.Fatalf("%d examples: %v", ds.Len(), st)
			}
			dec := func(ids []int) string { return tok.Decode(ids) }
			runs := func(ex Example) []string {
				var out []string
				for i := 0; i < len(ex.Labels); {
					if ex.Labels[i] == IgnoreIndex {
						i++
						continue
					}
					j := i
					for j < len(ex.Labels) && ex.Labels[j] != IgnoreIndex {
						j++
					}
					out = append(out, dec(ex.Tokens[i:j]))
					i = j
				}
				return out
			}
			bos, eos := tok.BOS(), tok.EOS()
			if !tok.AddBOS() {
				bos = -1
			}
			strip := func(ids []int) []int {
				if bos >= 0 && len(ids) > 0 && ids[0] == bos {
					ids = ids[1:]
				}
				if eos >= 0 && len(ids) > 0 && ids[len(ids)-1] == eos {
					ids = ids[:len(ids)-1]
				}
				return ids
			}

			text := ds.Examples[0]
			if bos >= 0 && text.Tokens[0] != bos || text.Tokens[len(text.Tokens)-1] != eos {
				t.Errorf("text record not wrapped in BOS %d / EOS %d: %v", bos, eos, text.Tokens)
			}
			if got := dec(strip(text.Tokens)); got != "Once upon a time, there was a little cat." {
				t.Errorf("text decodes to %q", got)
			}

			// Prompt/completion: the loss starts exactly where the prompt's
			// text ends (compared as decoded prefixes, since SentencePiece
			// decoding drops a leading space of a decoded fragment).
			pc := ds.Examples[1]
			r := runs(pc)
			first := 0
			for pc.Labels[first] == IgnoreIndex {
				first++
			}
			body := strip(pc.Tokens)
			off := 0 // body's offset in Tokens
			if bos >= 0 && pc.Tokens[0] == bos {
				off = 1
			}
			if got, want := dec(body), "Q: What is two plus two?\nA: Four."; got != want {
				t.Errorf("prompt/completion decodes to %q, want %q", got, want)
			}
			if got := dec(body[:first-off]); got != "Q: What is two plus two?\nA:" || len(r) != 1 {
				t.Errorf("loss starts after %q, runs %q", got, r)
			}

			chat := ds.Examples[2]
			msgs := []Message{{Role: "system", Content: "You are kind."}, {Role: "user", Content: "Hi there"},
				{Role: "assistant", Content: "Hello! How are you?"}, {Role: "user", Content: "Fine."}, {Role: "assistant", Content: "Good to hear."}}
			full, err := tmpl.Render(msgs, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := dec(chat.Tokens); got != full {
				t.Errorf("chat tokens decode to %q, want %q", got, full)
			}
			r = runs(chat)
			if len(r) != 2 || !strings.HasPrefix(r[0], "Hello! How are you?") || !strings.HasPrefix(r[1], "Good to hear.") ||
				strings.Contains(r[0], "Fine") || strings.Contains(r[1], "Fine") {
				t.Errorf("chat loss on %q", r)
			}
			t.Logf("%v; chat loss runs %q", st, r)
		})
	}
}

// BenchmarkLoadGPT2 is BenchmarkLoad with a real byte-level BPE tokenizer,
// on 2 MB: how the pipeline's cost compares with tokenization's.
func BenchmarkLoadGPT2(b *testing.B) {
	tok, err := tokenizer.LoadFull(testutil.Shared(b, "models", "tiny-random-gpt2"))
	if err != nil {
		b.Fatal(err)
	}
	in := benchJSONL(2 << 20)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := LoadReader(strings.NewReader(string(in)), "bench.jsonl", tok, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// The tokenizer package's tokenizers are used from several goroutines by
// default; the result must match a serial load (run with -race to check
// their safety as well).
func TestRealTokenizerParallel(t *testing.T) {
	tok, err := tokenizer.LoadFull(testutil.Shared(t, "models", "tiny-random-gpt2"))
	if err != nil {
		t.Fatal(err)
	}
	defer func(l int) { chunkLines = l }(chunkLines)
	chunkLines = 8
	in := string(benchJSONL(64 << 10))
	want, wst, err := LoadReader(strings.NewReader(in), "p.jsonl", tok, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, gst, err := LoadReader(strings.NewReader(in), "p.jsonl", tok, Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gst, wst) {
		t.Errorf("parallel %v, serial %v", gst, wst)
	}
}
