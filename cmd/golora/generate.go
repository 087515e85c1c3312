package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tokenizer"
)

type generateFlags struct {
	model, adapter, tokenizer string
	prompt, promptIDs         string
	maxTokens, maxNew         int
	temperature, topP, repPen float64
	topK                      int
	seed                      int64
	printIDs, ignoreEOS       bool
	stops                     []string
	threads                   int
	weights                   string
	baseDType                 string
	verbose, prepack          bool
	chat                      bool
	system                    string
	logitsOut                 string
}

func init() {
	f := &generateFlags{}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate text from a prompt, streaming it as it is produced",
		Long: `Generate text with the model (default: the embedded stories260K) and optional PEFT adapters.

--max-tokens counts positions as llama2.c's -n does: the output holds at most N
tokens after BOS, prompt included (Hugging Face's max_length). --max-new-tokens
counts only generated tokens and wins when set. The prompt is echoed, then the
continuation is streamed; timing goes to stderr with --verbose.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runGenerate(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model folder, .safetensors, llama2.c .bin or Hugging Face hub id in the local cache (default: the adapter's base model, else embedded stories260K)")
	fl.StringVar(&f.adapter, "adapter", "", "PEFT adapter folder(s), comma-separated")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer folder/file (default: found beside the model)")
	fl.StringVar(&f.prompt, "prompt", "", "prompt text")
	fl.StringVar(&f.promptIDs, "prompt-ids", "", "prompt as comma-separated token ids (used as given: no BOS added)")
	fl.IntVar(&f.maxTokens, "max-tokens", 256, "sequence length in tokens after BOS, prompt included (llama2.c -n)")
	fl.IntVar(&f.maxNew, "max-new-tokens", 0, "tokens to generate after the prompt (overrides --max-tokens)")
	fl.Float64Var(&f.temperature, "temperature", 1.0, "sampling temperature; 0 is greedy")
	fl.IntVar(&f.topK, "top-k", 0, "sample from the k most likely tokens (0: off)")
	fl.Float64Var(&f.topP, "top-p", 1.0, "nucleus sampling mass (1: off)")
	fl.Float64Var(&f.repPen, "repetition-penalty", 1.0, "penalty for tokens already present (1: off)")
	fl.Int64Var(&f.seed, "seed", -1, "random seed (-1: from the clock)")
	fl.BoolVar(&f.printIDs, "print-ids", false, "print the generated ids as one JSON array instead of text")
	fl.BoolVar(&f.ignoreEOS, "ignore-eos", false, "keep generating past EOS")
	fl.StringArrayVar(&f.stops, "stop", nil, "stop when this string is generated (repeatable)")
	fl.BoolVar(&f.prepack, "prepack", false, "keep the float32 weights also packed in the GEMM's panel layout: prompt processing skips transposing them (faster long prompts), at one more copy of the weights in memory")
	fl.StringVar(&f.weights, "weights", "f32", "decode weights: f32, or f16 (decode reads F16 copies of the linear weights: half the bytes per token, about 1.7x the tokens/s, 2 bytes per weight more memory; prompt processing stays f32)")
	addBaseDTypeFlag(fl, &f.baseDType)
	fl.IntVar(&f.threads, "threads", 0, "compute threads (default: GOLORA_THREADS or all cores)")
	fl.BoolVar(&f.verbose, "verbose", false, "print timing to stderr")
	fl.BoolVar(&f.chat, "chat", false, "render --prompt as one user turn with the model's chat template (and --system); prints only the reply")
	fl.StringVar(&f.system, "system", "", "system message for --chat")
	fl.StringVar(&f.logitsOut, "logits-out", "", "write the logits of every position fed to the model (the prompt's, then each generated token's but the last) to this file: little-endian float32, vocabulary-size values per position")
	rootCmd.AddCommand(cmd)
}

func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("--prompt-ids: %q is not a token id", part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func runGenerate(cmd *cobra.Command, f *generateFlags) error {
	if f.threads > 0 {
		kernels.SetThreads(f.threads)
	}
	modelPath, _, err := resolveModel(f.model, f.adapter, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	m, err := loadModelDType(modelPath, f.baseDType)
	if err != nil {
		return err
	}
	if _, err := attachAdapters(m, f.adapter); err != nil {
		return err
	}
	if err := setDecodeWeights(m, f.weights); err != nil {
		return err
	}
	if f.prepack {
		if _, err := setPrepacked(m); err != nil {
			return err
		}
	}
	tok, err := loadTokenizer(modelPath, f.tokenizer)
	if err != nil {
		return err
	}
	var prompt []int
	switch {
	case f.promptIDs != "":
		if prompt, err = parseIDs(f.promptIDs); err != nil {
			return err
		}
	case tok == nil:
		return errors.New("this model has no tokenizer: give --tokenizer or --prompt-ids")
	case f.chat:
		var msgs []tokenizer.Message
		if f.system != "" {
			msgs = append(msgs, tokenizer.Message{Role: "system", Content: f.system})
		}
		msgs = append(msgs, tokenizer.Message{Role: "user", Content: f.prompt})
		if prompt, err = generate.ChatPrompt(tok, msgs); err != nil {
			return err
		}
	default:
		prompt = generate.TextPrompt(tok, f.prompt)
	}
	if len(prompt) == 0 {
		return errors.New("empty prompt: give --prompt, or --prompt-ids for a model without BOS")
	}
	maxNew := f.maxNew // generate.Run checks it against the context
	if maxNew < 0 {
		return fmt.Errorf("--max-new-tokens %d: must be >= 0 (0: use --max-tokens)", maxNew)
	}
	if maxNew == 0 {
		maxNew = f.maxTokens - (len(prompt) - 1)
		if maxNew <= 0 {
			return fmt.Errorf("--max-tokens %d leaves no room after a %d-token prompt (use --max-new-tokens)", f.maxTokens, len(prompt))
		}
		// Only the default --max-tokens is fitted to a short context, with
		// a note; a limit the user gave past it is Run's error.
		if maxPos := m.Config().MaxPositionEmbeddings; !cmd.Flags().Changed("max-tokens") && maxPos > len(prompt) && len(prompt)+maxNew > maxPos {
			maxNew = maxPos - len(prompt)
			fmt.Fprintf(cmd.ErrOrStderr(), "note: generating at most %d tokens: the model has %d positions\n", maxNew, maxPos)
		}
	}
	seed := uint64(f.seed)
	if f.seed < 0 {
		seed = uint64(time.Now().UnixNano())
	}
	opt := generate.Options{
		MaxNew:    maxNew,
		IgnoreEOS: f.ignoreEOS,
		Sampler:   generate.NewSampler(f.temperature, f.topK, f.topP, f.repPen, seed),
	}
	opt.EOS = generate.EOSIDs(m, modelPath, tok)
	stops := f.stops
	if f.chat {
		ids, strs := generate.ChatStops(tok)
		opt.EOS = append(opt.EOS, ids...)
		stops = append(stops, strs...)
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	start := time.Now()
	var ids []int
	run := func() error {
		if f.printIDs || tok == nil {
			ids, err = generate.Run(m, prompt, opt, nil)
			if err != nil {
				return err
			}
			js, _ := json.Marshal(ids)
			fmt.Fprintln(out, string(js))
			return nil
		}
		ids, err = streamText(m, tok, prompt, opt, stops, !f.chat, out)
		return err
	}
	if f.logitsOut == "" {
		err = run()
	} else {
		err = atomicfile.WriteFile(f.logitsOut, func(w io.Writer) error {
			opt.Logits = generate.WriteLogits(w)
			return run()
		})
	}
	if err != nil {
		return err
	}
	if f.verbose {
		el := time.Since(start).Seconds()
		fmt.Fprintf(cmd.ErrOrStderr(), "generated %d tokens in %.2fs (%.1f tok/s, prompt %d tokens)\n", len(ids), el, float64(len(ids))/el, len(prompt))
	}
	return nil
}

// streamText echoes the prompt and prints the continuation as
// generate.Text releases it (complete characters, nothing that could still
// be part of a stop string).
func streamText(m model.Model, tok tokenizer.Full, prompt []int, opt generate.Options, stops []string, echo bool, out *bufio.Writer) ([]int, error) {
	if echo {
		// The BOS is not the user's text: llama.cpp and llama2.c print the
		// prompt without it (a tokenizer.json decodes it as "<s>").
		p := prompt
		if len(p) > 0 && p[0] == tok.BOS() {
			p = p[1:]
		}
		out.WriteString(tok.Decode(p))
		out.Flush()
	}
	eos := opt.EOS
	if opt.IgnoreEOS {
		eos = nil
	}
	text := generate.NewText(tok, prompt, eos, stops)
	ids, err := generate.Run(m, prompt, opt, func(id int) bool {
		s, done := text.Push(id)
		out.WriteString(s)
		out.Flush()
		return !done
	})
	out.WriteString(text.Flush())
	out.WriteString("\n")
	return ids, err
}
