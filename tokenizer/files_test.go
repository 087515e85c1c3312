package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/model/embedded"
)

// TestCopyFiles: whatever holds a model's tokenizer (an HF folder with its
// config files, a llama2.c checkpoint's tok*.bin, a tokenizer file given
// alone, the embedded model), the copy loads as the same tokenizer from the
// folder it went to (a GGUF file's: TestGGUFTokenizerRoundTrip).
func TestCopyFiles(t *testing.T) {
	src := t.TempDir()
	write := func(rel string, data []byte) string { return writeFile(t, src, rel, data) }
	write("hf/tokenizer.json", []byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "</s>": 3}, "merges": ["a b"]},
		"added_tokens": [{"id": 3, "content": "</s>", "special": true}],
		"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}, "decoder": {"type": "ByteLevel"}}`))
	write("hf/tokenizer_config.json", []byte(`{"eos_token": "</s>", "chat_template": "{{ messages[0].content }}"}`))
	write("hf/generation_config.json", []byte(`{"eos_token_id": 3}`))
	hfWeights := write("hf/model.safetensors", nil)
	l2cModel := write("l2c/stories260K.bin", embedded.Model)
	l2cTok := write("l2c/tok512.bin", embedded.Tokenizer)
	other := write("other/my-vocab.bin", embedded.Tokenizer)

	same := func(name string, dst, want string) {
		t.Helper()
		a, err := LoadFull(dst)
		if err != nil {
			t.Fatalf("%s: the copy does not load: %v", name, err)
		}
		b, err := LoadFull(want)
		if err != nil {
			t.Fatal(err)
		}
		text := "ab ba aab"
		if !slices.Equal(a.Encode(text), b.Encode(text)) || a.VocabSize() != b.VocabSize() || a.EOS() != b.EOS() || a.ChatTemplate() != b.ChatTemplate() {
			t.Errorf("%s: the copy differs from the original", name)
		}
	}
	for _, tc := range []struct {
		name      string
		copy      func(dst string) error
		want      string   // what LoadFull of the copy must equal
		wantFiles []string // in the copy
	}{
		{"model folder", func(d string) error { return CopyForModel(d, hfWeights) }, filepath.Join(src, "hf"),
			[]string{"tokenizer.json", "tokenizer_config.json", "generation_config.json"}},
		{"llama2.c checkpoint", func(d string) error { return CopyForModel(d, l2cModel) }, l2cTok, []string{"tok512.bin"}},
		{"embedded", func(d string) error { return CopyForModel(d, "") }, l2cTok, []string{"tok512.bin"}},
		{"tokenizer.json alone", func(d string) error { return CopyFiles(d, filepath.Join(src, "hf", "tokenizer.json")) }, filepath.Join(src, "hf"),
			[]string{"tokenizer.json", "tokenizer_config.json"}},
		{"tokenizer file of another name", func(d string) error { return CopyFiles(d, other) }, other, []string{"tokenizer.bin"}},
	} {
		dst := t.TempDir()
		if err := tc.copy(dst); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for _, f := range tc.wantFiles {
			if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		}
		same(tc.name, dst, tc.want)
	}
	ggufPath := write("m.gguf", nil)
	if err := CopyForModel(t.TempDir(), ggufPath); err == nil || !strings.Contains(err.Error(), "m.gguf") {
		t.Errorf("an empty GGUF file: %v, want an error naming it", err)
	}
}

// writeFile writes data to dir/rel, making rel's folders, and returns the path.
func writeFile(t *testing.T, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
