package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/golora/golora/data"
	"github.com/golora/golora/tokenizer"
)

// dataReport is what golora data prints with --json.
type dataReport struct {
	File    string           `json:"file"`
	Load    data.Stats       `json:"load"`
	Batches *data.BatchStats `json:"batches,omitempty"`
}

func init() {
	var modelPath, tokPath string
	var opts data.Options
	var bo data.BatchOptions
	var show int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "data FILE.jsonl|DIR",
		Short: "Check a JSONL training file: record counts, tokens, masking, truncation, packing",
		Long: `Load a JSONL file as golora train would and report what it holds: records by
kind ({"text"}, {"prompt","completion"}, {"messages"}, {"input_ids"}), tokens
and loss-carrying tokens, malformed lines, truncation, and with --seq-len the
batch layout (rows, padding, packing). --show N prints the first N examples
with the tokens that carry loss marked, to check the masking by eye. A data
folder (train.jsonl, valid.jsonl, test.jsonl, as train --data takes it) is
checked file by file. Without a tokenizer (a model that has none) only
{"input_ids"} records can be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := loadTokenizer(modelPath, tokPath)
			if err != nil {
				return err
			}
			enc := dataEncoder(tok)
			files := []string{args[0]}
			if data.IsSplitDir(args[0]) { // a data folder, as train --data takes it
				files = nil
				for _, s := range data.SplitNames {
					if f := data.SplitFile(args[0], s); fileExists(f) {
						files = append(files, f)
					}
				}
				if len(files) == 0 {
					return fmt.Errorf("%s: a data folder needs train.jsonl, valid.jsonl or test.jsonl (mlx-lm's layout)", args[0])
				}
			}
			for _, f := range files {
				if err := reportData(cmd.OutOrStdout(), f, tok, enc, opts, bo, show, asJSON); err != nil {
					return err
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelPath, "model", "", "model whose tokenizer to use (default: the embedded one)")
	fl.StringVar(&tokPath, "tokenizer", "", "tokenizer folder/file (default: found beside the model)")
	fl.BoolVar(&opts.TrainOnAll, "train-on-all", false, "loss on prompts and user turns too")
	fl.BoolVar(&opts.SkipBad, "skip-bad", false, "skip malformed lines (counted) instead of failing")
	fl.IntVar(&opts.MaxSeqLen, "max-seq-len", 0, "truncate examples to this many tokens (0: no limit)")
	fl.IntVar(&bo.SeqLen, "seq-len", 0, "also lay out batches of this many positions per row")
	fl.IntVar(&bo.BatchSize, "batch", 4, "rows per batch, with --seq-len")
	fl.BoolVar(&bo.Pack, "pack", false, "pack several examples per row, with --seq-len")
	fl.IntVar(&show, "show", 0, "print the first N examples with their loss-carrying tokens marked")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	rootCmd.AddCommand(cmd)
}

// reportData loads one JSONL file and prints what golora data reports on it.
func reportData(out io.Writer, file string, tok tokenizer.Full, enc data.Encoder, opts data.Options, bo data.BatchOptions, show int, asJSON bool) error {
	ds, st, err := data.Load(file, enc, opts)
	if err != nil {
		return err
	}
	rep := dataReport{File: file, Load: st}
	if bo.SeqLen > 0 {
		_, bs, err := data.Batches(ds.Examples, bo)
		if err != nil {
			return err
		}
		rep.Batches = &bs
	}
	if asJSON {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(js))
		return nil
	}
	fmt.Fprintf(out, "%s: %v\n", file, st)
	for _, le := range st.SkipErrors {
		fmt.Fprintf(out, "  skipped %v\n", le)
	}
	if b := rep.Batches; b != nil {
		fmt.Fprintf(out, "batches of %dx%d: %d examples in %d rows, %d batches/epoch, %.1f%% padding, %d truncated (%d tokens dropped), %d without loss\n",
			bo.BatchSize, bo.SeqLen, b.Examples, b.Rows, b.Batches, 100*b.PadFraction, b.Truncated, b.Dropped, b.NoLoss)
	}
	for i := range min(show, ds.Len()) {
		showExample(out, tok, i, ds.Examples[i])
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// showExample prints an example as alternating runs of text, the runs that
// carry loss between ⟦ and ⟧.
func showExample(w io.Writer, tok tokenizer.Tokenizer, i int, ex data.Example) {
	fmt.Fprintf(w, "--- example %d: %d tokens, %d with loss\n", i, len(ex.Tokens), ex.LossTokens())
	for s := 0; s < len(ex.Tokens); {
		loss := ex.Labels[s] != data.IgnoreIndex
		e := s
		for e < len(ex.Tokens) && (ex.Labels[e] != data.IgnoreIndex) == loss {
			e++
		}
		text := fmt.Sprint(ex.Tokens[s:e]) // ids, for a model without a tokenizer
		if tok != nil {
			text = tok.Decode(ex.Tokens[s:e])
		}
		if loss {
			fmt.Fprintf(w, "⟦%s⟧", text)
		} else {
			fmt.Fprint(w, text)
		}
		s = e
	}
	fmt.Fprintln(w)
}
