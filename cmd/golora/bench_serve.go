package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/internal/cputime"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/serve"
)

type benchServeOpts struct {
	modelPath, tokPath, arch     string
	adapters, batches            string
	clients, requests, maxTokens int
	promptLen, rounds, threads   int
	rank                         int
	cpuProfile                   string
}

func init() {
	var o benchServeOpts
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Time the server: throughput and time to first token over many adapters; prints JSON lines",
		Long: `Starts golora serve in-process on loopback with random LoRA adapters over
the model (default: the embedded stories260K; --arch gpt2 is a random GPT-2
124M) and measures generated tokens/s and p50/p95 time to first token:

  adapters: --clients concurrent clients spread over 1, 8, 64 adapters (and
            the base alone), ratios against one adapter;
  batch:    N = 1, 2, 4, 8 concurrent clients on one adapter, ratios
            against N = 1.

Contenders alternate within each of --rounds rounds, so the machine's load
hits them alike; each summary line has min, median and max over rounds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchServe(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.modelPath, "model", "", "model (default: embedded stories260K, or --arch)")
	f.StringVar(&o.tokPath, "tokenizer", "", "tokenizer (default: the model's, else the embedded one)")
	f.StringVar(&o.arch, "arch", "", "random model instead: gpt2 (GPT-2 124M shape)")
	f.StringVar(&o.adapters, "adapters", "1,8,64", "adapter counts to spread clients over")
	f.StringVar(&o.batches, "batches", "1,2,4,8", "concurrent single-adapter clients for the batching comparison")
	f.IntVar(&o.clients, "clients", 8, "concurrent clients for the adapter comparison")
	f.IntVar(&o.requests, "requests", 2, "requests per client per measurement")
	f.IntVar(&o.maxTokens, "max-tokens", 32, "tokens generated per request (EOS ignored)")
	f.IntVar(&o.promptLen, "prompt-len", 16, "prompt tokens per request")
	f.IntVar(&o.rounds, "rounds", 5, "rounds; contenders alternate within each")
	f.IntVar(&o.rank, "rank", 8, "adapter rank (all linear layers but the head)")
	f.IntVar(&o.threads, "threads", 0, "kernel threads (0: GOLORA_THREADS or GOMAXPROCS)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured rounds to this file")
	benchCmd.AddCommand(cmd)
}

func intList(s, flag string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s: %q is not a positive count", flag, p)
		}
		out = append(out, n)
	}
	return out, nil
}

func runBenchServe(cmd *cobra.Command, o benchServeOpts) error {
	if o.threads > 0 {
		kernels.SetThreads(o.threads)
	}
	counts, err := intList(o.adapters, "adapters")
	if err != nil {
		return err
	}
	batches, err := intList(o.batches, "batches")
	if err != nil {
		return err
	}
	var m model.Model
	name := embedded.Name
	switch o.arch {
	case "":
		if m, err = loadModel(o.modelPath); err != nil {
			return err
		}
		if o.modelPath != "" {
			name = filepath.Base(o.modelPath)
		}
	case "gpt2":
		name = "gpt2-124m-random"
		m, err = model.NewRandom(&model.Config{ModelType: "gpt2", VocabSize: 50257, NEmbd: 768, NLayer: 12, NHead: 12, NPositions: 1024}, 1)
	default:
		return fmt.Errorf("--arch %q: only gpt2", o.arch)
	}
	if err != nil {
		return err
	}
	tok, err := loadTokenizer(o.modelPath, o.tokPath)
	if err != nil {
		return err
	}
	// One random adapter saved once, loaded under every name: each name
	// gets its own copy of the weights, as distinct adapters would.
	most := slices.Max(counts)
	dir, err := os.MkdirTemp("", "golora-bench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := saveRandomAdapter(m, filepath.Join(dir, "a"), o.rank); err != nil {
		return err
	}
	adapters := map[string]string{}
	for i := range most {
		adapters[fmt.Sprintf("a%d", i)] = filepath.Join(dir, "a")
	}
	srv, err := serve.New(serve.Options{Model: m, Tokenizer: tok, BaseName: name, EOS: generate.EOSIDs(m, o.modelPath, tok),
		Adapters: adapters, MaxBatch: max(o.clients, slices.Max(batches)), MaxQueue: 1024, Ctx: o.promptLen + o.maxTokens + 1})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer func() { hs.Close(); srv.Close() }()
	url := "http://" + ln.Addr().String()
	prompt := make([]int, o.promptLen)
	for i := range prompt {
		prompt[i] = 1 + (i*7919)%(min(m.Config().VocabSize, 500)-1)
	}
	names := func(k int) []string {
		var out []string
		for i := range k {
			out = append(out, fmt.Sprintf("a%d", i))
		}
		return out
	}
	type contender struct {
		group, label string
		load         serve.Load
		ref          string // label of the ratio's denominator
	}
	var cs []contender
	for _, k := range counts {
		cs = append(cs, contender{"adapters", fmt.Sprintf("%d adapters", k), serve.Load{Models: names(k), Clients: o.clients}, fmt.Sprintf("%d adapters", counts[0])})
	}
	cs = append(cs, contender{"adapters", "base only", serve.Load{Models: []string{name}, Clients: o.clients}, fmt.Sprintf("%d adapters", counts[0])})
	for _, n := range batches {
		cs = append(cs, contender{"batch", fmt.Sprintf("N=%d", n), serve.Load{Models: names(1), Clients: n}, fmt.Sprintf("N=%d", batches[0])})
	}
	for i := range cs {
		l := &cs[i].load
		l.URL, l.Prompt, l.MaxTokens, l.Requests = url, prompt, o.maxTokens, o.requests
	}
	// Warm up (page in weights, grow buffers).
	w := cs[0].load
	w.Requests = 1
	w.Run(context.Background())
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	tps, tpc := map[string][]float64{}, map[string][]float64{} // per wall and per CPU second
	ratio, cpuRatio := map[string][]float64{}, map[string][]float64{}
	p50, p95 := map[string][]float64{}, map[string][]float64{}
	for r := range o.rounds {
		got, gotCPU := map[string]float64{}, map[string]float64{}
		for k := range cs {
			c := cs[(k+r)%len(cs)] // rotate the order each round
			cpu0 := cputime.Process()
			res := c.load.Run(context.Background())
			var perCPU float64 // 0: CPU time not measured here
			if d := cputime.Process() - cpu0; d > 0 {
				perCPU = float64(res.Tokens) / d.Seconds()
			}
			if res.Errors > 0 {
				return fmt.Errorf("%s: %d of %d requests failed: %v", c.label, res.Errors, res.Requests, res.FirstError)
			}
			got[c.label], gotCPU[c.label] = res.TokensPerSecond(), perCPU
			tps[c.label] = append(tps[c.label], res.TokensPerSecond())
			tpc[c.label] = append(tpc[c.label], perCPU)
			p50[c.label] = append(p50[c.label], res.TTFTQuantile(0.5).Seconds()*1e3)
			p95[c.label] = append(p95[c.label], res.TTFTQuantile(0.95).Seconds()*1e3)
			if err := printJSONLine(cmd, map[string]any{"round": r, "group": c.group, "contender": c.label, "tokens_per_s": res.TokensPerSecond(),
				"tokens_per_cpu_s": perCPU, "tokens": res.Tokens, "requests": res.Requests, "ttft_p50_ms": p50[c.label][r], "ttft_p95_ms": p95[c.label][r]}); err != nil {
				return err
			}
		}
		for _, c := range cs {
			ratio[c.label] = append(ratio[c.label], got[c.label]/got[c.ref])
			if gotCPU[c.ref] > 0 {
				cpuRatio[c.label] = append(cpuRatio[c.label], gotCPU[c.label]/gotCPU[c.ref])
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	for _, c := range cs {
		t := tps[c.label]
		sum := map[string]any{"summary": true, "model": name, "group": c.group, "contender": c.label, "vs": c.ref,
			"tokens_per_s_min": slices.Min(t), "tokens_per_s_median": median(t), "tokens_per_s_max": slices.Max(t),
			"ratio_min": slices.Min(ratio[c.label]), "ratio_median": median(ratio[c.label]), "ratio_max": slices.Max(ratio[c.label]),
			"ttft_p50_ms": median(p50[c.label]), "ttft_p95_ms": median(p95[c.label]), "clients": c.load.Clients,
			"threads": kernels.Threads(), "loadavg": strings.TrimSpace(string(load))}
		// The same per CPU-second of the process: steadier than wall time
		// on a shared machine (waiting for a core is not counted).
		if cr := cpuRatio[c.label]; len(cr) > 0 {
			sum["tokens_per_cpu_s_median"] = median(tpc[c.label])
			sum["cpu_ratio_min"], sum["cpu_ratio_median"], sum["cpu_ratio_max"] = slices.Min(cr), median(cr), slices.Max(cr)
		}
		if err := printJSONLine(cmd, sum); err != nil {
			return err
		}
	}
	return nil
}

// saveRandomAdapter writes a rank-r LoRA adapter on every linear but the
// head, with random A and B (B is zero after a standard init, which would
// not change the arithmetic's cost but would hide mistakes).
func saveRandomAdapter(base model.Model, dir string, r int) error {
	cfg := lora.DefaultConfig()
	cfg.R, cfg.LoraAlpha, cfg.TargetModules = r, float64(2*r), lora.Regex("all-linear")
	base.SetTrainable(nil)
	lm := lora.ForModel(base)
	if err := lm.Add("bench", cfg, "gaussian", 1); err != nil {
		return err
	}
	for _, s := range lm.Layers() {
		if a := s.Adapter("bench"); a != nil {
			for i := range a.B.Data {
				a.B.Data[i] = float32((i%17)-8) * 1e-3
			}
		}
	}
	err := lm.SaveAdapter(dir, "bench")
	lm.Unload()
	return err
}
