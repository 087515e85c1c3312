package tokenizer

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"golang.org/x/text/unicode/norm"
)

// tinyGPT2JSON is the shared tiny-random-gpt2 tokenizer.json, decoded.
func tinyGPT2JSON(t testing.TB) map[string]any {
	t.Helper()
	data, err := os.ReadFile(testutil.Shared(t, "models", "tiny-random-gpt2", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// fullByteGPT2 is shared/models/tiny-random-gpt2's tokenizer with the byte
// symbols its 1000-token vocabulary lacks appended, so that every byte string
// encodes. It needs no npm package, so the fuzz targets always run.
func fullByteGPT2(t testing.TB) *HF {
	t.Helper()
	f := tinyGPT2JSON(t)
	vocab := f["model"].(map[string]any)["vocab"].(map[string]any)
	next := 0
	for _, id := range vocab {
		next = max(next, int(id.(float64))+1)
	}
	for b := 0; b < 256; b++ {
		if s := string(byteToRune[b]); vocab[s] == nil {
			vocab[s] = next
			next++
		}
	}
	f["added_tokens"] = []any{map[string]any{"id": next, "content": "<|endoftext|>", "special": true}}
	data, _ := json.Marshal(f)
	tok, err := ParseHF(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var fuzzSeeds = []string{
	"", " ", "Hello world", "  two  spaces  ", "I'm HERE'S 'tis", "\r\n\t\v\f",
	"ünïcödé e\u0301 中文 😀👩‍👩‍👧‍👦 🇺🇸", "1234567890 3.14", "<|endoftext|>", "▁x▁",
	"\xff\xfe invalid \xc3", "a\u00a0b\u2003c\u3000d", "x!!\n\n  y",
}

// FuzzRoundTripByteLevel: byte-level BPE is lossless on any bytes, valid
// UTF-8 or not, and the heap and scan merge orders agree.
func FuzzRoundTripByteLevel(f *testing.F) {
	tok := fullByteGPT2(f)
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Fatalf("decode(encode(%q)) = %q", s, got)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if got := tok.Decode(tok.EncodeWithSpecial(s)); got != s {
			t.Fatalf("decode(encodeWithSpecial(%q)) = %q", s, got)
		}
	})
}

// FuzzRoundTripLlama2C: llama2.c tok.bin falls back to bytes, so any text
// round trips; the dummy-prefix space is removed again by Decode.
func FuzzRoundTripLlama2C(f *testing.F) {
	tok := loadTok512(f)
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if got := tok.Decode(ids); got != s {
			t.Fatalf("decode(encode(%q)) = %q (ids %v)", s, got, ids)
		}
	})
}

// FuzzRoundTripNPM covers the real vocabularies when npm installed them.
// What normalisation changes: Qwen3 applies NFC; SentencePiece (Llama-2)
// decodes a ▁ typed in the text as a space. Invalid UTF-8 bytes go through
// the byte fallback and come back unchanged (HF's Rust strings cannot hold
// them at all).
func FuzzRoundTripNPM(f *testing.F) {
	type named struct {
		name string
		tok  Full
		want func(string) string
	}
	var toks []named
	for _, n := range []string{"gpt2", "llama2", "llama3", "qwen3"} {
		dir := npmModelPath(f, n)
		if dir == "" {
			continue
		}
		tok := npmTokenizer(f, n)
		want := func(s string) string { return s }
		switch n {
		case "qwen3":
			want = norm.NFC.String
		case "llama2":
			want = func(s string) string { return strings.ReplaceAll(s, "▁", " ") }
		}
		toks = append(toks, named{n, tok, want})
	}
	if len(toks) == 0 {
		f.Skip("npm tokenizers absent: run tools/tokref/setup.sh")
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, nt := range toks {
			ids := nt.tok.Encode(s)
			if got, want := nt.tok.Decode(ids), nt.want(s); got != want {
				t.Fatalf("%s: decode(encode(%q)) = %q, want %q", nt.name, s, got, want)
			}
		}
	})
}
