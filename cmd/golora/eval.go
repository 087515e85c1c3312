package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/golora/golora/data"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/train"
)

func init() {
	var modelPath, adapter, tokPath, dataPath, baseDType string
	var asJSON bool
	var threads int
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Mean next-token loss and perplexity of a model (and adapters) on a JSONL file",
		Long: `Evaluate mean next-token cross-entropy over every loss-carrying token of a
JSONL file: {"text": ...}, {"prompt", "completion"}, {"messages": [...]} or
pre-tokenized {"input_ids": [...]} (optional "labels") records, the same
formats golora train reads. --data may also be a data folder in mlx-lm's
layout (train.jsonl, valid.jsonl, test.jsonl): its test.jsonl is evaluated,
as mlx-lm's --test does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if threads > 0 {
				kernels.SetThreads(threads)
			}
			if dataPath == "" {
				return errors.New("--data FILE.jsonl (or a folder holding test.jsonl) is required")
			}
			if data.IsSplitDir(dataPath) { // mlx-lm's --test: the folder's test split
				dir := dataPath
				if dataPath = data.SplitFile(dir, "test"); !fileExists(dataPath) {
					return fmt.Errorf("--data %s: a data folder needs test.jsonl for eval (mlx-lm's layout); give --data %s for the validation split", dir, data.SplitFile(dir, "valid"))
				}
			}
			modelPath, _, err := resolveModel(modelPath, adapter, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			m, err := loadModelDType(modelPath, baseDType)
			if err != nil {
				return err
			}
			if _, err := attachAdapters(m, adapter); err != nil {
				return err
			}
			tok, err := loadTokenizer(modelPath, tokPath)
			if err != nil {
				return err
			}
			ds, _, err := data.Load(dataPath, dataEncoder(tok), data.Options{MaxSeqLen: m.Config().MaxPositionEmbeddings, VocabSize: m.Config().VocabSize})
			if err != nil {
				return err
			}
			res := train.Evaluate(m, ds.Examples)
			if asJSON {
				js, _ := json.Marshal(res)
				fmt.Fprintln(cmd.OutOrStdout(), string(js))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "loss %.6f  perplexity %.4f  tokens %d  examples %d\n", res.Loss, res.Perplexity, res.Tokens, res.Examples)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelPath, "model", "", "model folder, .safetensors, llama2.c .bin or Hugging Face hub id in the local cache (default: the adapter's base model, else embedded stories260K)")
	fl.StringVar(&adapter, "adapter", "", "PEFT adapter folder(s), comma-separated")
	fl.StringVar(&tokPath, "tokenizer", "", "tokenizer folder/file (default: found beside the model)")
	fl.StringVar(&dataPath, "data", "", "JSONL file to evaluate on, or a data folder (mlx-lm layout: its test.jsonl)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	addBaseDTypeFlag(fl, &baseDType)
	fl.IntVar(&threads, "threads", 0, "compute threads (default: GOLORA_THREADS or all cores)")
	rootCmd.AddCommand(cmd)
}
