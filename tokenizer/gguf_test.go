package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/model/embedded"
)

// ggufRoundTrip writes t's GGUF tokenizer keys to a file and reads the
// tokenizer back from it.
func ggufRoundTrip(t *testing.T, tok Full) Full {
	t.Helper()
	kv, err := GGUFMetadata(tok)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tok.gguf")
	if err := gguf.Write(p, kv, nil); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFull(p)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// ggufFilesRoundTrip writes t's GGUF tokenizer keys to a file, copies its
// tokenizer into a folder (CopyFiles: tokenizer.json and
// tokenizer_config.json) and loads it from there.
func ggufFilesRoundTrip(t *testing.T, tok Full) Full {
	t.Helper()
	kv, err := GGUFMetadata(tok)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tok.gguf")
	if err := gguf.Write(p, kv, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := CopyFiles(dir, p); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFull(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.(*HF); !ok {
		t.Fatalf("the folder loads as %T, want *HF (tokenizer.json)", back)
	}
	return back
}

// TestGGUFTokenizerRoundTrip: a tokenizer written as tokenizer.ggml.* keys
// and read back, from the GGUF file or from the tokenizer.json and
// tokenizer_config.json CopyFiles writes from it (a SentencePiece vocabulary
// as transformers' LlamaConverter writes it: BPE merges from the scores),
// encodes and decodes like the original: the embedded SentencePiece
// vocabulary always, and the real GPT-2, Llama 3 and Qwen3 byte-level BPE
// tokenizers of the npm reference packages.
func TestGGUFTokenizerRoundTrip(t *testing.T) {
	alice, err := os.ReadFile(filepath.Join("testdata", "alice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.SplitAfter(string(alice[:20000]), "\n")
	texts = append(texts, "", " ", "  leading spaces", "emoji 🦙 and ünïcode, tabs\tand\r\nCRLF", "12345 numbers 3.14")
	same := func(t *testing.T, orig, back Full) {
		if back.BOS() != orig.BOS() || back.EOS() != orig.EOS() || back.AddBOS() != orig.AddBOS() ||
			back.VocabSize() != orig.VocabSize() || back.ChatTemplate() != orig.ChatTemplate() ||
			back.BOSToken() != orig.BOSToken() || back.EOSToken() != orig.EOSToken() {
			t.Fatalf("special tokens differ: bos %d/%d eos %d/%d addBOS %v/%v vocab %d/%d %q/%q",
				back.BOS(), orig.BOS(), back.EOS(), orig.EOS(), back.AddBOS(), orig.AddBOS(), back.VocabSize(), orig.VocabSize(), back.BOSToken(), orig.BOSToken())
		}
		for _, s := range texts {
			a, b := orig.Encode(s), back.Encode(s)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("Encode(%q): %v, after GGUF %v", s, a, b)
			}
			if orig.Decode(a) != back.Decode(a) {
				t.Fatalf("Decode(%v) differs", a)
			}
		}
		// llama2.c's SentencePiece tokenizer matches no special tokens in
		// text; tokenizer.json's added tokens do, as in transformers.
		_, spm := orig.(*Llama2C)
		_, hf := back.(*HF)
		if s := orig.EOSToken(); s != "" && !(spm && hf) {
			if a, b := orig.EncodeWithSpecial("x"+s), back.EncodeWithSpecial("x"+s); !reflect.DeepEqual(a, b) {
				t.Fatalf("EncodeWithSpecial: %v, after GGUF %v", a, b)
			}
		}
	}
	// The files of a byte-level BPE are the ones FromGGUF parses: through
	// the folder only once (gpt2), to keep the test short.
	check := func(t *testing.T, orig Full, files bool) {
		t.Run("gguf", func(t *testing.T) { same(t, orig, ggufRoundTrip(t, orig)) })
		if files {
			t.Run("files", func(t *testing.T) { same(t, orig, ggufFilesRoundTrip(t, orig)) })
		}
	}
	t.Run("embedded", func(t *testing.T) {
		tok, err := ParseLlama2C(embedded.Tokenizer)
		if err != nil {
			t.Fatal(err)
		}
		check(t, tok, true)
	})
	for _, name := range []string{"gpt2", "llama3", "qwen3"} {
		t.Run(name, func(t *testing.T) { check(t, npmTokenizer(t, name), name == "gpt2") })
	}
}

func TestGGUFTokenizerErrors(t *testing.T) {
	dir := t.TempDir()
	for name, kv := range map[string][]gguf.KV{
		"tokenizer.ggml.model":  nil,
		`"bert" is not`:         {{Key: "tokenizer.ggml.model", Value: "bert"}, {Key: "tokenizer.ggml.tokens", Value: []string{"a"}}},
		"tokenizer.ggml.tokens": {{Key: "tokenizer.ggml.model", Value: "gpt2"}},
		"merges":                {{Key: "tokenizer.ggml.model", Value: "gpt2"}, {Key: "tokenizer.ggml.tokens", Value: []string{"a"}}},
		"scores":                {{Key: "tokenizer.ggml.model", Value: "llama"}, {Key: "tokenizer.ggml.tokens", Value: []string{"a"}}},
		`pre "falcon"`: {{Key: "tokenizer.ggml.model", Value: "gpt2"}, {Key: "tokenizer.ggml.pre", Value: "falcon"},
			{Key: "tokenizer.ggml.tokens", Value: []string{"a"}}, {Key: "tokenizer.ggml.merges", Value: []string{}}},
		"token_type": {{Key: "tokenizer.ggml.model", Value: "gpt2"}, {Key: "tokenizer.ggml.tokens", Value: []string{"a"}},
			{Key: "tokenizer.ggml.token_type", Value: []int32{1, 1}}},
	} {
		p := filepath.Join(dir, "t.gguf")
		if err := gguf.Write(p, kv, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFull(p); err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "t.gguf") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
