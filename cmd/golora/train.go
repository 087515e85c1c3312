package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/golora/golora/data"
	"github.com/golora/golora/model"
	"github.com/golora/golora/train"
	"github.com/golora/golora/train/lossplot"
	"github.com/golora/golora/train/trainconfig"
)

func init() {
	cfg := train.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Fine-tune a model (LoRA, DoRA, adapters or full) and write a PEFT adapter",
		Long: `Fine-tune a model and write the result to --out: the adapter in PEFT layout
(adapter_config.json, adapter_model.safetensors), metrics.jsonl, loss.png and
checkpoints/ for --resume.

With no arguments it fine-tunes the embedded stories260K model on the embedded
demo set and evaluates on a held-out part of it. Every flag can also be set in
a YAML file given with --config (keys are the flag names); flags given on the
command line win over the file, which wins over the defaults.

The tokenizer is the one beside --model (tokenizer.json, or a llama2.c
tok*.bin), or --tokenizer; pre-tokenized {"input_ids"} data needs none. With
--method full, --out becomes a model folder with the tokenizer copied in, so
"golora generate --model OUT" works with nothing else.

Ctrl-C stops after the current step and writes a checkpoint, then exits
with status 130; rerun with --resume (and the same --out) to continue
exactly where it stopped.`,
		Example: `  golora train
  golora train --model models/qwen2-0.5b --data train.jsonl --valid valid.jsonl --targets q,k,v,o --steps 500
  golora train --config run.yaml --lr 2e-4
  golora train --model models/qwen2-0.5b --init-adapter runs/first --data more.jsonl --out runs/second
  golora train --out golora-out --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, &cfg) },
	}
	trainconfig.RegisterFlags(cmd.Flags(), &cfg)
	rootCmd.AddCommand(cmd)
}

func runTrain(cmd *cobra.Command, cfg *train.Config) error {
	fs := cmd.Flags()
	if err := trainconfig.ResolveResume(cfg, fs, train.DefaultConfig()); err != nil {
		return err
	}
	if cfg.Model == "" && cfg.InitAdapter != "" { // as generate/eval/merge, an empty --model is none
		// The adapter's base model, as generate/eval/merge use it; the new
		// adapter records the same base_model_name_or_path.
		_, name, err := resolveModel("", cfg.InitAdapter, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		cfg.Model = name
	}
	tok, err := loadTokenizer(cfg.Model, cfg.Tokenizer)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	tr, err := setupTrainer(*cfg, nil, dataEncoder(tok), out)
	if err != nil {
		if tok == nil {
			err = fmt.Errorf("%w (no tokenizer was found beside --model %s: want tokenizer.json or a tok*.bin, or give --tokenizer)", err, cfg.Model)
		}
		return err
	}
	if err := runTrainer(tr, out, "train"); err != nil {
		return err
	}
	if cfg.Method == "full" { // the result is a model folder: usable as --model as it is
		return saveTokenizer(cfg.Out, cfg.Model, cfg.Tokenizer, tok)
	}
	return nil
}

// setupTrainer builds the trainer of train and pretrain (m nil: load
// --model): without --data it trains on the embedded demo set, as the help
// promises; the engine itself never falls back to it. The CLI draws
// loss.png.
func setupTrainer(cfg train.Config, m model.Model, tok data.Encoder, out io.Writer) (*train.Trainer, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	var tr *train.Trainer
	var err error
	switch {
	case cfg.Data != "" && m == nil:
		tr, err = train.Setup(cfg, tok, logf)
	case cfg.Data != "":
		tr, err = train.SetupModel(cfg, m, tok, logf)
	default:
		if m == nil {
			if m, err = train.LoadModel(cfg); err != nil {
				return nil, err
			}
		}
		var d *train.Data
		if d, err = train.DemoData(cfg, tok); err != nil {
			return nil, err
		}
		tr, err = train.SetupData(cfg, m, d, tok, logf)
	}
	if err != nil {
		return nil, err
	}
	tr.Plot = lossplot.Write
	return tr, nil
}

// runTrainer runs tr, logging to out, stopped by Ctrl-C as withInterrupt
// says; command names the subcommand in the resume hint.
func runTrainer(tr *train.Trainer, out io.Writer, command string) error {
	tr.Log = out
	return withInterrupt(fmt.Sprintf("resume with: golora %s --out %s --resume", command, tr.Config.Out), func(ctx context.Context) error {
		_, err := tr.Run(ctx)
		return err
	})
}

// withInterrupt runs f with a context that the first Ctrl-C (or SIGTERM)
// cancels; a second one kills the process as usual. f stopped that way ends
// with the status a shell gives a command stopped by the signal (130 for
// Ctrl-C, 143 for SIGTERM), so that `golora train && golora merge ...` does
// not go on with an unfinished run, and with hint, how to continue.
func withInterrupt(hint string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	got := make(chan os.Signal, 1)
	go func() {
		if s, ok := <-sigs; ok {
			signal.Stop(sigs) // the next one kills as usual
			got <- s
			cancel()
		}
	}()
	err := f(ctx)
	signal.Stop(sigs)
	close(sigs)
	if !errors.Is(err, context.Canceled) {
		return err
	}
	select {
	case s := <-got:
		code := 130 // 128 + SIGINT
		if s == syscall.SIGTERM {
			code = 128 + int(syscall.SIGTERM)
		}
		msg := "interrupted" // not Go's "context canceled"
		if in := (*train.Interrupted)(nil); errors.As(err, &in) {
			msg = err.Error()
		}
		return &exitError{code: code, err: fmt.Errorf("%s; %s", msg, hint)}
	default:
		return err
	}
}
