package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/golora/golora/model/embedded"
)

// ErrNoTokenizer is wrapped by ForModel's error when a model has no
// tokenizer beside it; commands that work on ids alone carry on without.
var ErrNoTokenizer = errors.New("no tokenizer found")

// ForModel finds the tokenizer that goes with the model at path, as
// model.Load reads it: "" is the embedded model (its tok512.bin); a .gguf
// file carries its own vocabulary; otherwise the model's folder (path
// itself, or the folder of a .safetensors, index .json or llama2.c .bin
// file) holds tokenizer.json (with tokenizer_config.json) or a single
// tok*.bin. A hub id must be resolved to its snapshot first
// (model.Resolve).
func ForModel(path string) (Full, error) {
	if path == "" {
		t, err := ParseLlama2C(embedded.Tokenizer)
		if err != nil {
			return nil, fmt.Errorf("embedded tokenizer: %w", err)
		}
		return t, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if !st.IsDir() && filepath.Ext(path) == ".gguf" {
		return LoadGGUF(path)
	}
	dir := path
	if !st.IsDir() {
		dir = filepath.Dir(path)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err == nil {
		return LoadFull(dir)
	}
	if bins, _ := filepath.Glob(filepath.Join(dir, "tok*.bin")); len(bins) == 1 {
		return LoadFull(bins[0])
	}
	return nil, fmt.Errorf("tokenizer: %w for %s (expected tokenizer.json or a single tok*.bin in %s)", ErrNoTokenizer, path, dir)
}
