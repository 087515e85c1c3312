package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/golora/golora/data"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model"
)

type evalResult struct {
	Loss       float64 `json:"loss"`
	Perplexity float64 `json:"perplexity"`
	Tokens     int     `json:"tokens"`
	Examples   int     `json:"examples"`
}

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
formats golora train reads.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if threads > 0 {
				kernels.SetThreads(threads)
			}
			if dataPath == "" {
				return errors.New("--data FILE.jsonl is required")
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
			noTok := &idsOnly{}
			var enc data.Encoder = noTok
			if tok != nil {
				enc = tok
			}
			ds, _, err := data.Load(dataPath, enc, data.Options{MaxSeqLen: m.Config().MaxPositionEmbeddings, VocabSize: m.Config().VocabSize})
			if err != nil {
				return err
			}
			if noTok.textSeen {
				return fmt.Errorf("%s: text records need a tokenizer and this model has none (give --tokenizer)", dataPath)
			}
			res := evaluate(m, ds.Examples)
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
	fl.StringVar(&dataPath, "data", "", "JSONL file to evaluate on")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	addBaseDTypeFlag(fl, &baseDType)
	fl.IntVar(&threads, "threads", 0, "compute threads (default: GOLORA_THREADS or all cores)")
	rootCmd.AddCommand(cmd)
}

// evaluate sums the loss of every example (one forward each, so no padding
// enters the mean) and averages over all loss-carrying tokens.
func evaluate(m model.Model, examples []data.Example) evalResult {
	var sum float64
	var tokens, used int
	for _, ex := range examples {
		T := len(ex.Tokens)
		if T < 2 {
			continue
		}
		// Labels are aligned with tokens; position t predicts Labels[t+1].
		targets := make([]int, T)
		for t := 0; t < T-1; t++ {
			targets[t] = ex.Labels[t+1]
		}
		targets[T-1] = data.IgnoreIndex
		n := ex.LossTokens()
		if n == 0 {
			continue
		}
		sum += m.Loss(ex.Tokens, targets, 1, T) * float64(n)
		tokens += n
		used++
	}
	res := evalResult{Tokens: tokens, Examples: used}
	if tokens > 0 {
		res.Loss = sum / float64(tokens)
		res.Perplexity = math.Exp(res.Loss)
	}
	return res
}

// idsOnly lets models without a tokenizer evaluate pre-tokenized records;
// it notes any text it is asked to encode so the command can refuse it.
type idsOnly struct{ textSeen bool }

func (e *idsOnly) Encode(string) []int { e.textSeen = true; return nil }
func (*idsOnly) BOS() int              { return -1 }
func (*idsOnly) EOS() int              { return -1 }
