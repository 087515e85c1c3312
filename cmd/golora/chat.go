package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/kernels"
)

type chatFlags struct {
	model, adapter, tokenizer, system string
	maxNew                            int
	temperature, topP                 float64
	seed                              int64
	threads                           int
}

func init() {
	f := &chatFlags{}
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat with a model in the terminal, using its chat template",
		Long: `Chat with the model (default: the embedded stories260K) and an optional
adapter. Each line you type is a user turn; the reply streams as it is
generated. /reset forgets the conversation, /exit (or end of input) quits.
Piped input works the same way, one user message per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runChat(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model folder, .safetensors, llama2.c .bin or Hugging Face hub id in the local cache (default: the adapter's base model, else embedded stories260K)")
	fl.StringVar(&f.adapter, "adapter", "", "PEFT adapter folder")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer folder/file (default: found beside the model)")
	fl.StringVar(&f.system, "system", "", "system message")
	fl.IntVar(&f.maxNew, "max-new-tokens", 0, "most tokens per reply (0: up to the context)")
	fl.Float64Var(&f.temperature, "temperature", 0.7, "sampling temperature; 0 is greedy")
	fl.Float64Var(&f.topP, "top-p", 1.0, "nucleus sampling mass (1: off)")
	fl.Int64Var(&f.seed, "seed", -1, "random seed (-1: from the clock)")
	fl.IntVar(&f.threads, "threads", 0, "compute threads (default: GOLORA_THREADS or all cores)")
	rootCmd.AddCommand(cmd)
}

func runChat(cmd *cobra.Command, f *chatFlags) error {
	if f.threads > 0 {
		kernels.SetThreads(f.threads)
	}
	modelPath, _, err := resolveModel(f.model, f.adapter, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	f.model = modelPath
	m, err := loadModel(f.model)
	if err != nil {
		return err
	}
	if _, err := attachAdapters(m, f.adapter); err != nil {
		return err
	}
	tok, err := loadTokenizer(f.model, f.tokenizer)
	if err != nil {
		return err
	}
	if tok == nil {
		return errors.New("this model has no tokenizer: give --tokenizer")
	}
	seed := uint64(f.seed)
	if f.seed < 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s := generate.NewSampler(f.temperature, 0, f.topP, 1, seed)
	if err := s.Validate(); err != nil {
		return err
	}
	chat := generate.NewChat(m, tok, f.system, generate.Options{
		MaxNew: f.maxNew, EOS: generate.EOSIDs(m, f.model, tok), Sampler: s,
	})
	in := cmd.InOrStdin()
	out := cmd.OutOrStdout()
	tty := false
	if fi, ok := in.(*os.File); ok && isTerminal(fi) {
		tty = true
		fmt.Fprintln(out, "Type a message; /reset starts over, /exit quits.")
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for {
		if tty {
			fmt.Fprint(out, ">>> ")
		}
		if !sc.Scan() {
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "/exit", "/quit", "/bye":
			return nil
		case "/reset":
			chat.Reset()
			if tty {
				fmt.Fprintln(out, "(conversation reset)")
			}
			continue
		}
		if _, err := chat.Send(line, flushWriter{out}); err != nil {
			return err
		}
		io.WriteString(out, "\n")
	}
}

// flushWriter writes straight through, so replies stream even when out is
// buffered by the caller.
type flushWriter struct{ w io.Writer }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(interface{ Flush() error }); ok {
		fl.Flush()
	}
	return n, err
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
