package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/golora/golora/model"
	"github.com/golora/golora/train"
	"github.com/golora/golora/train/trainconfig"
)

// pretrainDefaults are train's defaults with what training from scratch
// needs instead: every weight trainable, a small Llama, more steps.
func pretrainDefaults() train.Config {
	c := train.DefaultConfig()
	c.Method = "full"
	c.Out = "golora-pretrain"
	c.Steps, c.Warmup, c.EvalEvery, c.SaveEvery = 300, 30, 50, 100
	c.WeightDecay = 0.1
	c.Shape = train.ModelShape{Arch: "llama", Layers: 4, Hidden: 128, Heads: 4}
	return c
}

func init() {
	cfg := pretrainDefaults()
	cmd := &cobra.Command{
		Use:   "pretrain",
		Short: "Train a model from scratch (random weights of a given shape) on the same engine as train",
		Long: `Train a new model from random weights: the shape comes from --arch, --layers,
--hidden, --heads, --kv-heads, --intermediate and --vocab (or the same keys in
--config), the data and every optimisation setting from the train flags. The
result is a Hugging Face model folder (config.json, model.safetensors) in
--out, with the tokenizer (--tokenizer, default the embedded 512-token one)
copied in; use it with --model in generate, eval and train.
Checkpoints and --resume work as for train.`,
		Example: `  golora pretrain --layers 4 --hidden 128 --heads 4 --steps 300
  golora pretrain --config pretrain.yaml --data corpus.jsonl --tokenizer models/tok512.bin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPretrain(cmd, &cfg) },
	}
	trainconfig.RegisterFlags(cmd.Flags(), &cfg)
	trainconfig.RegisterShapeFlags(cmd.Flags(), &cfg.Shape)
	cmd.Flags().MarkHidden("model")
	cmd.Flags().Lookup("tokenizer").Usage = "tokenizer file or folder (default: the embedded 512-token one); copied into --out"
	rootCmd.AddCommand(cmd)
}

func runPretrain(cmd *cobra.Command, cfg *train.Config) error {
	fs := cmd.Flags()
	if err := trainconfig.ResolveResume(cfg, fs, pretrainDefaults()); err != nil {
		return err
	}
	if cfg.Method != "full" {
		return fmt.Errorf("pretrain: --method %s: training from scratch trains every weight (--method full)", cfg.Method)
	}
	tok, err := loadTokenizer("", cfg.Tokenizer) // "": the embedded one
	if err != nil {
		return err
	}
	mc, err := cfg.Shape.ModelConfig(cfg.SeqLen, tok.VocabSize())
	if err != nil {
		return err
	}
	if mc.VocabSize < tok.VocabSize() {
		return fmt.Errorf("pretrain: --vocab %d is smaller than the tokenizer's %d tokens", mc.VocabSize, tok.VocabSize())
	}
	m, err := model.NewRandom(mc, uint64(cfg.Seed))
	if err != nil {
		return err
	}
	c := m.Config()
	cfg.Model = fmt.Sprintf("scratch %s L%d C%d H%d/%d I%d V%d", c.ModelType, c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.IntermediateSize, c.VocabSize)
	out := cmd.OutOrStdout()
	tr, err := setupTrainer(*cfg, m, tok, out)
	if err != nil {
		return err
	}
	if err := runTrainer(tr, out, "pretrain"); err != nil {
		return err
	}
	return saveTokenizer(cfg.Out, "", cfg.Tokenizer, tok) // so --model OUT needs nothing else
}
