// Command tobf16 copies a Hugging Face model folder written by golora
// pretrain (config.json + F32 model.safetensors) to another folder with the
// weights stored as BF16, halving the size of a base shipped in the repo.
//
//	go run ./experiment/cmd/tobf16 SRC DST
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tensor"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tobf16 SRC DST")
		os.Exit(2)
	}
	if err := convert(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "tobf16:", err)
		os.Exit(1)
	}
}

func convert(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return err
	}
	cfg = bytes.Replace(cfg, []byte(`"torch_dtype": "float32"`), []byte(`"torch_dtype": "bfloat16"`), 1)
	if err := atomicfile.WriteBytes(filepath.Join(dst, "config.json"), cfg); err != nil {
		return err
	}
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		return err
	}
	defer f.Close()
	ts := map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		if ts[name], err = f.Tensor(name); err != nil {
			return err
		}
	}
	return safetensors.WriteDType(filepath.Join(dst, "model.safetensors"), ts, f.Metadata(), "BF16")
}
