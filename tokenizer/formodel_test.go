package tokenizer

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/model/embedded"
)

// TestForModel: each place a model keeps its tokenizer, and a clear error
// naming the folder when it keeps none.
func TestForModel(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, data []byte) string { return writeFile(t, dir, rel, data) }
	// An HF folder: a byte-level BPE tokenizer.json beside the weights.
	write("hf/tokenizer.json", []byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
		"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}, "decoder": {"type": "ByteLevel"}}`))
	hfWeights := write("hf/model.safetensors", nil)
	// A llama2.c checkpoint with its tok*.bin beside it.
	write("l2c/tok512.bin", embedded.Tokenizer)
	l2cModel := write("l2c/stories260K.bin", embedded.Model)
	// A GGUF file carrying its own vocabulary.
	emb, err := ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := GGUFMetadata(emb)
	if err != nil {
		t.Fatal(err)
	}
	ggufPath := filepath.Join(dir, "m.gguf")
	if err := gguf.Write(ggufPath, kv, nil); err != nil {
		t.Fatal(err)
	}
	bare := write("bare/model.safetensors", nil)

	for _, tc := range []struct {
		path      string
		kind      any
		vocab     int
		wantError string
	}{
		{"", &Llama2C{}, 512, ""},
		{filepath.Join(dir, "hf"), &HF{}, 3, ""},
		{hfWeights, &HF{}, 3, ""},
		{l2cModel, &Llama2C{}, 512, ""},
		{filepath.Join(dir, "l2c"), &Llama2C{}, 512, ""},
		{ggufPath, nil, 512, ""},
		{bare, nil, 0, "no tokenizer found for " + bare},
		{filepath.Join(dir, "missing"), nil, 0, "no such file"},
	} {
		tok, err := ForModel(tc.path)
		if tc.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("ForModel(%q): error %v, want one containing %q", tc.path, err, tc.wantError)
			}
			continue
		}
		if err != nil {
			t.Errorf("ForModel(%q): %v", tc.path, err)
			continue
		}
		if tok.VocabSize() != tc.vocab {
			t.Errorf("ForModel(%q): vocabulary %d, want %d", tc.path, tok.VocabSize(), tc.vocab)
		}
		switch tc.kind.(type) {
		case *HF:
			if _, ok := tok.(*HF); !ok {
				t.Errorf("ForModel(%q) = %T, want *HF", tc.path, tok)
			}
		case *Llama2C:
			if _, ok := tok.(*Llama2C); !ok {
				t.Errorf("ForModel(%q) = %T, want *Llama2C", tc.path, tok)
			}
		}
	}
	if _, err := ForModel(bare); !errors.Is(err, ErrNoTokenizer) {
		t.Errorf("ForModel(%q): %v does not wrap ErrNoTokenizer", bare, err)
	}
}
