package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/model/embedded"
)

// hfFiles are the files of a Hugging Face tokenizer, and
// generation_config.json, whose eos_token_id ends generation: what a model
// folder needs beside its weights to be used as it is.
var hfFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
	"chat_template.jinja", "vocab.json", "merges.txt", "tokenizer.model", "generation_config.json"}

// CopyFiles copies the tokenizer at src (a folder, a tokenizer.json, a
// llama2.c tok*.bin or a .gguf file: what LoadFull takes) into the folder
// dst, so that LoadFull(dst) loads the same tokenizer; a GGUF file's
// embedded tokenizer is written as tokenizer.json and tokenizer_config.json
// (writeGGUFFiles), which transformers reads too. A model saved in dst then works
// with nothing beside it, as Hugging Face's save_pretrained leaves it.
func CopyFiles(dst, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if st.IsDir() { // as LoadFull: tokenizer.json, else the folder's one tok*.bin
		if _, err := os.Stat(filepath.Join(src, "tokenizer.json")); err != nil {
			bins, _ := filepath.Glob(filepath.Join(src, "tok*.bin"))
			if len(bins) != 1 {
				return fmt.Errorf("tokenizer: %s has no tokenizer.json (and no single tok*.bin)", src)
			}
			return copyFile(filepath.Join(dst, filepath.Base(bins[0])), bins[0])
		}
		return copyHF(dst, src, filepath.Join(src, "tokenizer.json"))
	}
	switch filepath.Ext(src) {
	case ".gguf":
		return writeGGUFFiles(dst, src)
	case ".json":
		return copyHF(dst, filepath.Dir(src), src)
	}
	name := filepath.Base(src)
	if ok, _ := filepath.Match("tok*.bin", name); !ok {
		name = "tokenizer.bin" // the name LoadFull looks for in a folder
	}
	return copyFile(filepath.Join(dst, name), src)
}

// CopyForModel copies the tokenizer of the model at path, the one ForModel
// finds, into the folder dst: the embedded tok512.bin for "", the files
// beside a checkpoint (a llama2.c .bin's tok*.bin) or in a model folder,
// or the one inside a .gguf file.
func CopyForModel(dst, path string) error {
	if path == "" {
		return atomicfile.WriteBytes(filepath.Join(dst, "tok512.bin"), embedded.Tokenizer)
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() && filepath.Ext(path) != ".gguf" {
		path = filepath.Dir(path)
	}
	return CopyFiles(dst, path)
}

// copyHF copies tokenizer.json (from tj) and the other files of hfFiles that
// dir holds.
func copyHF(dst, dir, tj string) error {
	if err := copyFile(filepath.Join(dst, "tokenizer.json"), tj); err != nil {
		return err
	}
	for _, f := range hfFiles[1:] {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			if err := copyFile(filepath.Join(dst, f), filepath.Join(dir, f)); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return atomicfile.WriteBytes(dst, b)
}
