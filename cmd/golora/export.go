package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tokenizer"
)

func init() {
	export := &cobra.Command{
		Use:   "export",
		Short: "Write a model or adapter in another tool's format (gguf)",
	}
	var modelPath, adapter, out, typ, tokPath string
	var loraOnly, unsafe bool
	cmd := &cobra.Command{
		Use:   "gguf",
		Short: "Write a model (merged with an adapter) or just the adapter as GGUF for llama.cpp/ollama",
		Long: `Write the model (--model, default the embedded stories260K), merged with
--adapter when given, as one GGUF file llama.cpp and ollama load: weights in
--type (f32, f16, bf16, q8_0, q4_0, q4_k; norms and 1-D tensors stay F32,
rows a block does not divide fall back to Q8_0 or F32), the config as
<arch>.* metadata and the tokenizer and chat template as tokenizer.* keys.
Llama q/k rows are permuted as llama.cpp's converter does.

With --lora-only the adapter alone is written in llama.cpp's adapter format
(general.type adapter, adapter.lora.alpha, <tensor>.lora_a/.lora_b), to use
with llama.cpp's --lora on the base exported without an adapter.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			t, err := gguf.ParseType(typ)
			if err != nil || !gguf.Quantizable(t) {
				return fmt.Errorf("--type %q: expected f32, f16, bf16, q8_0, q4_0 or q4_k", typ)
			}
			if loraOnly && adapter == "" {
				return errors.New("--lora-only needs --adapter DIR")
			}
			m, err := loadModel(modelPath)
			if err != nil {
				return err
			}
			name := strings.TrimSuffix(filepath.Base(modelPath), filepath.Ext(modelPath))
			if modelPath == "" {
				name = embedded.Name
			}
			lm, err := attachAdapters(m, adapter)
			if err != nil {
				return err
			}
			if loraOnly {
				if err := lm.SaveGGUF(out, m.Config(), name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote LoRA adapter %s as GGUF -> %s\n", adapter, out)
				return nil
			}
			if lm != nil {
				if err := lm.MergeAndUnload(!unsafe); err != nil {
					return err
				}
			}
			tok, err := loadTokenizer(modelPath, tokPath)
			if err != nil {
				return err
			}
			var kv []gguf.KV
			if tok != nil {
				if kv, err = tokenizer.GGUFMetadata(tok); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "golora: warning: no tokenizer found; the GGUF file has none (llama.cpp needs one)")
			}
			if err := model.SaveGGUF(m, out, name, t, kv); err != nil {
				return err
			}
			what := "model"
			if adapter != "" {
				what = "model merged with " + adapter
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s as GGUF %s -> %s\n", what, t, out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelPath, "model", "", "base model: HF folder, .gguf, or llama2.c .bin (default: embedded stories260K)")
	fl.StringVar(&adapter, "adapter", "", "PEFT adapter folder(s) to merge (comma-separated), or with --lora-only the one to write")
	fl.StringVar(&out, "out", "", "output .gguf file")
	fl.StringVar(&typ, "type", "f32", "weight type: f32, f16, bf16, q8_0, q4_0 or q4_k")
	fl.StringVar(&tokPath, "tokenizer", "", "tokenizer to embed (default: the model's own)")
	fl.BoolVar(&loraOnly, "lora-only", false, "write only the adapter, in llama.cpp's LoRA adapter GGUF format")
	fl.BoolVar(&unsafe, "unsafe", false, "skip the NaN/Inf check before merging")
	export.AddCommand(cmd)
	rootCmd.AddCommand(export)
}
