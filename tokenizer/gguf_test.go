package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/model/embedded"
)

// ggufFile writes tok's GGUF tokenizer keys to a file and returns its path.
func ggufFile(t *testing.T, tok Full) string {
	t.Helper()
	kv, err := GGUFMetadata(tok)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tok.gguf")
	if err := gguf.Write(p, kv, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// ggufRoundTrip reads tok back from the GGUF file ggufFile writes.
func ggufRoundTrip(t *testing.T, tok Full) Full {
	t.Helper()
	back, err := LoadFull(ggufFile(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// ggufFolder copies the tokenizer of the GGUF file ggufFile writes into a
// folder (CopyFiles: tokenizer.json and tokenizer_config.json), which it
// returns.
func ggufFolder(t *testing.T, tok Full) string {
	t.Helper()
	dir := t.TempDir()
	if err := CopyFiles(dir, ggufFile(t, tok)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ggufFilesRoundTrip loads t back from the folder ggufFolder writes.
func ggufFilesRoundTrip(t *testing.T, tok Full) Full {
	t.Helper()
	back, err := LoadFull(ggufFolder(t, tok))
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

// TestGGUFFilesTransformersJS: the tokenizer.json and tokenizer_config.json
// written from a GGUF file load in transformers.js (@lenml/tokenizers, the
// JavaScript port of transformers' tokenizers; tools/tokref/encode.mjs) and
// encode as the GGUF's tokenizer does: the embedded SentencePiece vocabulary
// converted to BPE, and GPT-2's byte-level BPE.
func TestGGUFFilesTransformersJS(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "tools", "tokref", "node_modules", "@lenml", "tokenizers", "package.json")); err != nil {
		skipOrFail(t, "@lenml/tokenizers absent: run tools/tokref/setup.sh (needs node and npm)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not installed")
	}
	alice, err := os.ReadFile(filepath.Join("testdata", "alice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	texts := append([]string{"Once upon a time"}, strings.SplitAfter(string(alice[:6000]), "\n")...)
	texts = append(texts, " ", "  leading spaces", "emoji 🦙 and ünïcode, tabs\tand\r\nCRLF", "12345 numbers 3.14")
	in, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	spm, err := ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	for name, orig := range map[string]func() Full{"embedded": func() Full { return spm }, "gpt2": func() Full { return npmTokenizer(t, "gpt2") }} {
		t.Run(name, func(t *testing.T) {
			tok := orig()
			cmd := exec.Command(node, filepath.Join(root, "tools", "tokref", "encode.mjs"), ggufFolder(t, tok))
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("encode.mjs: %v\n%s", err, stderr.String())
			}
			var got struct {
				IDs         [][]int `json:"ids"`
				WithSpecial []int   `json:"with_special"`
			}
			if err := json.Unmarshal(out, &got); err != nil || len(got.IDs) != len(texts) {
				t.Fatalf("encode.mjs output %.200s: %v", out, err)
			}
			for i, s := range texts {
				if want := tok.Encode(s); !slices.Equal(got.IDs[i], want) && !(len(want) == 0 && len(got.IDs[i]) == 0) {
					t.Fatalf("transformers.js encodes %q as %v, golora as %v", s, got.IDs[i], want)
				}
			}
			want := tok.Encode(texts[0])
			if tok.AddBOS() {
				want = append([]int{tok.BOS()}, want...)
			}
			if !slices.Equal(got.WithSpecial, want) {
				t.Errorf("with special tokens transformers.js gives %v, golora %v", got.WithSpecial, want)
			}
		})
	}
}

// TestGGUFFilesRepeatedPiece: a SentencePiece GGUF vocabulary with a
// repeated piece still writes its files, which encode as the GGUF's
// tokenizer does (the first id of the piece).
func TestGGUFFilesRepeatedPiece(t *testing.T) {
	spm, err := ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := GGUFMetadata(spm)
	if err != nil {
		t.Fatal(err)
	}
	for i := range kv {
		if kv[i].Key == "tokenizer.ggml.tokens" {
			tokens := kv[i].Value.([]string)
			tokens[400] = tokens[300]
		}
	}
	p := filepath.Join(t.TempDir(), "dup.gguf")
	if err := gguf.Write(p, kv, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := CopyFiles(dir, p); err != nil {
		t.Fatal(err)
	}
	a, err := LoadFull(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadFull(dir)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := os.ReadFile(filepath.Join("testdata", "alice.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.SplitAfter(string(alice[:4000]), "\n") {
		if x, y := a.Encode(s), b.Encode(s); !slices.Equal(x, y) {
			t.Fatalf("Encode(%q): GGUF %v, files %v", s, x, y)
		}
	}
}
