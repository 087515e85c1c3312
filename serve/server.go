// Package serve is golora's OpenAI-compatible HTTP server: one base model,
// any number of LoRA adapters over it, and continuous batching in which one
// forward step carries rows of different adapters (and of the base) through
// lora's per-row router.
//
// A single engine goroutine owns the model, the adapters on it and the KV
// cache; handlers hand it sequences through a bounded queue and read their
// text from a channel. Each sequence gets its own KV memory, sized to its
// prompt and token limit, inside a global token budget, and loses it the
// step after it ends or its client goes away. Steps are row-exact
// (model.Transformer.SetRowExact), and prompts are prefilled in the chunks
// generate.Run uses, so a greedy completion is the same alone, in any
// batch, and from golora generate.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tokenizer"
)

// Options configure a Server. Model and Tokenizer are required.
type Options struct {
	Model     model.Model
	Tokenizer tokenizer.Full
	// BaseName is the id of the base model in /v1/models and requests.
	BaseName string
	// EOS ids end a completion (generate.EOSIDs).
	EOS []int
	// Adapters are loaded at start, name → folder.
	Adapters map[string]string
	// AdapterDir is where POST /v1/adapters may load from ("" = off).
	AdapterDir string
	// APIKey, when set, is required as a Bearer token on /v1/.
	APIKey string
	// MaxBatch sequences run at once (default 8); MaxQueue more may wait
	// (default 64) before requests get 429.
	MaxBatch, MaxQueue int
	// Ctx is the most tokens (prompt + completion) of one sequence (default
	// and maximum: the model's max_position_embeddings, else 2048).
	Ctx int
	// KVTokens is the KV-cache budget in tokens shared by running
	// sequences (default MaxBatch × Ctx): each reserves its prompt plus
	// max_tokens when it starts, and waits in the queue until that fits.
	KVTokens int
	// MaxBody is the largest request body in bytes (default 4 MiB).
	MaxBody int64
	// Log gets one line per request (nil: none).
	Log io.Writer
}

// Server is an http.Handler serving the OpenAI API. Close stops its engine.
type Server struct {
	opt   Options
	m     *model.Transformer
	lm    *lora.Model
	eng   *engine
	reg   *registry
	met   *metrics
	log   *log.Logger
	mux   *http.ServeMux
	ids   atomic.Int64
	start time.Time
}

// New loads the adapters, starts the engine and returns the server.
func New(opt Options) (*Server, error) {
	m, ok := opt.Model.(*model.Transformer)
	if !ok {
		return nil, errors.New("serve: the model must be a *model.Transformer")
	}
	if opt.Tokenizer == nil {
		return nil, errors.New("serve: the model has no tokenizer")
	}
	if opt.BaseName == "" {
		opt.BaseName = "base"
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 8
	}
	if opt.MaxQueue <= 0 {
		opt.MaxQueue = 64
	}
	maxPos := m.Config().MaxPositionEmbeddings
	if maxPos <= 0 {
		maxPos = 2048
	}
	if opt.Ctx <= 0 || opt.Ctx > maxPos {
		if opt.Ctx > maxPos {
			return nil, fmt.Errorf("serve: --ctx %d exceeds the model's %d positions", opt.Ctx, maxPos)
		}
		opt.Ctx = maxPos
	}
	if opt.KVTokens <= 0 {
		opt.KVTokens = opt.MaxBatch * opt.Ctx
	}
	if opt.KVTokens < opt.Ctx {
		return nil, fmt.Errorf("serve: a KV budget (--kv-tokens) of %d tokens cannot hold one %d-token context (--ctx)", opt.KVTokens, opt.Ctx)
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 4 << 20
	}
	m.SetTrainable(nil)
	lm := lora.ForModel(m)
	lm.SetTrain(false)
	s := &Server{opt: opt, m: m, lm: lm, reg: newRegistry(opt.BaseName), met: newMetrics(), start: time.Now()}
	for name, dir := range opt.Adapters {
		if !validName.MatchString(name) || name == opt.BaseName {
			return nil, fmt.Errorf("serve: adapter name %q: use letters, digits, '.', '_' or '-', not the base's name", name)
		}
		if err := loadAdapter(lm, name, dir); err != nil {
			return nil, err
		}
		s.reg.add(name, dir)
	}
	if opt.Log != nil {
		s.log = log.New(opt.Log, "", log.LstdFlags|log.Lmicroseconds)
	}
	s.eng = newEngine(m, lm, s.reg, s.met, opt.MaxBatch, opt.MaxQueue, opt.KVTokens)
	go s.eng.run()
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/models", s.auth(s.models))
	mux.HandleFunc("POST /v1/completions", s.auth(s.completions))
	mux.HandleFunc("POST /v1/chat/completions", s.auth(s.chatCompletions))
	mux.HandleFunc("POST /v1/adapters", s.auth(s.loadAdapter))
	mux.HandleFunc("DELETE /v1/adapters/{name}", s.auth(s.unloadAdapter))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	s.mux = mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close stops the engine, ending anything still running; call it after
// the HTTP server has shut down.
func (s *Server) Close() {
	select {
	case <-s.eng.quit:
	default:
		close(s.eng.quit)
	}
	<-s.eng.done
}

// KVBudget is the KV-cache budget in tokens and what it takes in memory at
// most (float32 keys and values of every layer).
func (s *Server) KVBudget() (tokens, bytes int) {
	return s.opt.KVTokens, s.opt.KVTokens * s.m.KVBytesPerToken()
}

// KVReserved is the number of KV-cache tokens running sequences hold (0
// when idle); tests use it to check nothing leaks.
func (s *Server) KVReserved() int {
	n := 0
	_ = s.eng.do(context.Background(), func() {
		for b := range s.eng.slots {
			n += s.eng.cache.RowCap(b)
		}
	})
	return n
}

// ListenAndServe serves on addr until ctx ends (SIGINT/SIGTERM in the
// CLI), then stops accepting, lets running requests finish for up to
// grace, cancels the rest and returns nil.
func (s *Server) ListenAndServe(ctx context.Context, addr string, grace time.Duration, ready func(addr string)) error {
	hs := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = hs.Shutdown(sctx)
	s.Close() // cancels what did not finish in time
	if errors.Is(err, context.DeadlineExceeded) {
		hs.Close()
		err = nil
	}
	return err
}
