package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/serve"
)

type serveFlags struct {
	model, tokenizer, adapterDir, host, apiKey string
	baseDType                                  string
	adapters                                   []string
	port, maxBatch, maxQueue, ctx, threads     int
	kvTokens                                   int
}

func init() {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the model and its adapters over an OpenAI-compatible HTTP API",
		Long: `Serve a base model (default: the embedded stories260K) and any number of
LoRA adapters over it with the OpenAI API: GET /v1/models, POST
/v1/completions, POST /v1/chat/completions (streaming with "stream": true),
POST /v1/adapters and DELETE /v1/adapters/NAME to load and unload adapters at
run time from --adapter-dir, GET /health and GET /metrics (Prometheus).
Requests for different adapters are batched together in one forward step
(continuous batching); "model" in a request picks the base or an adapter.
SIGINT/SIGTERM stop accepting, let running requests finish, and exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model folder, .safetensors, llama2.c .bin or Hugging Face hub id in the local cache (default: embedded stories260K)")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer folder/file (default: found beside the model)")
	fl.StringArrayVar(&f.adapters, "adapter", nil, "NAME=DIR: serve the PEFT LoRA adapter in DIR as model NAME (repeatable)")
	fl.StringVar(&f.adapterDir, "adapter-dir", "", "folder POST /v1/adapters may load adapters from (default: runtime loading off)")
	fl.StringVar(&f.host, "host", "127.0.0.1", "address to listen on")
	fl.IntVar(&f.port, "port", 8080, "port to listen on (0: any free port)")
	fl.StringVar(&f.apiKey, "api-key", "", "require this key as 'Authorization: Bearer KEY' on /v1/ (default: GOLORA_API_KEY, else none)")
	fl.IntVar(&f.maxBatch, "max-batch", 8, "most sequences decoded together in one step")
	fl.IntVar(&f.maxQueue, "max-queue", 64, "most sequences waiting for a slot; beyond it requests get 429")
	fl.IntVar(&f.ctx, "ctx", 0, "most tokens per sequence, prompt included (default: the model's max_position_embeddings)")
	fl.IntVar(&f.kvTokens, "kv-tokens", 0, "KV-cache budget in tokens shared by running sequences; a request waits in the queue until its prompt + max_tokens fit (default: max-batch × ctx)")
	fl.IntVar(&f.threads, "threads", 0, "compute threads (default: GOLORA_THREADS or all cores)")
	addBaseDTypeFlag(fl, &f.baseDType)
	rootCmd.AddCommand(cmd)
}

func runServe(cmd *cobra.Command, f *serveFlags) error {
	if f.threads > 0 {
		kernels.SetThreads(f.threads)
	}
	if f.kvTokens < 0 {
		return fmt.Errorf("--kv-tokens %d: want a positive budget (0: the default)", f.kvTokens)
	}
	m, err := loadModelDType(f.model, f.baseDType)
	if err != nil {
		return err
	}
	tok, err := loadTokenizer(f.model, f.tokenizer)
	if err != nil {
		return err
	}
	if tok == nil {
		return fmt.Errorf("--model %s has no tokenizer: give --tokenizer", f.model)
	}
	adapters := map[string]string{}
	for _, a := range f.adapters {
		name, dir, ok := strings.Cut(a, "=")
		if !ok || name == "" || dir == "" {
			return fmt.Errorf("--adapter %q: want NAME=DIR", a)
		}
		if _, dup := adapters[name]; dup {
			return fmt.Errorf("--adapter: name %q given twice", name)
		}
		adapters[name] = dir
	}
	base := embedded.Name
	if f.model != "" {
		base = filepath.Base(filepath.Clean(f.model))
		if st, err := os.Stat(f.model); err == nil && !st.IsDir() {
			base = filepath.Base(filepath.Dir(filepath.Clean(f.model)))
		}
	}
	key := f.apiKey
	if key == "" {
		key = os.Getenv("GOLORA_API_KEY")
	}
	srv, err := serve.New(serve.Options{
		Model: m, Tokenizer: tok, BaseName: base, EOS: generate.EOSIDs(m, f.model, tok),
		Adapters: adapters, AdapterDir: f.adapterDir, APIKey: key,
		MaxBatch: f.maxBatch, MaxQueue: f.maxQueue, Ctx: f.ctx, KVTokens: f.kvTokens, Log: cmd.ErrOrStderr(),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := net.JoinHostPort(f.host, strconv.Itoa(f.port))
	kvTok, kvBytes := srv.KVBudget()
	return srv.ListenAndServe(ctx, addr, 30*time.Second, func(a string) {
		fmt.Fprintf(cmd.ErrOrStderr(), "golora: serving %s (%d adapters, KV budget %d tokens, %.1f MiB) on http://%s/v1\n",
			base, len(adapters), kvTok, float64(kvBytes)/(1<<20), a)
	})
}
