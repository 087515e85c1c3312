package serve

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tensor"
	"github.com/golora/golora/tokenizer"
)

// A base for tests: the embedded stories260K, or a small random model of
// GPT-2's or Llama's shape over the embedded tokenizer's 512 ids (Llama's
// also with a BF16 and a Q8_0 base).
type base struct {
	name  string
	build func() (model.Model, error)
}

var bases = []base{
	{"stories260K", func() (model.Model, error) { return model.Load("") }},
	{"rand-gpt2", func() (model.Model, error) {
		return model.NewRandom(&model.Config{ModelType: "gpt2", VocabSize: 512, NEmbd: 64, NLayer: 2, NHead: 4, NPositions: 256}, 11)
	}},
	{"rand-llama", func() (model.Model, error) {
		return model.NewRandom(&model.Config{ModelType: "llama", VocabSize: 512, HiddenSize: 64, IntermediateSize: 172, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 256, RMSNormEps: 1e-5}, 12)
	}},
	// serve --base-dtype bf16: the base stays 16-bit (kernels.GemmHalfRows).
	{"rand-llama-bf16", func() (model.Model, error) {
		return model.NewRandomDType(&model.Config{ModelType: "llama", VocabSize: 512, HiddenSize: 64, IntermediateSize: 172, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 256, RMSNormEps: 1e-5}, 12, tensor.BF16)
	}},
	// serve --base-dtype q8_0: int8 steps, row-exact by construction.
	{"rand-llama-q8_0", func() (model.Model, error) {
		return model.NewRandomDType(&model.Config{ModelType: "llama", VocabSize: 512, HiddenSize: 64, IntermediateSize: 172, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 256, RMSNormEps: 1e-5}, 12, tensor.Q8_0)
	}},
}

func testTokenizer(t testing.TB) tokenizer.Full {
	tok, err := tokenizer.ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustBuild(t testing.TB, b base) model.Model {
	m, err := b.build()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// makeAdapters writes n PEFT LoRA adapters for b (all linears but the
// head, rank 4, random A and B so each changes the output) to dir/a<i>.
func makeAdapters(t testing.TB, b base, dir string, n int) map[string]string {
	out := map[string]string{}
	for i := range n {
		m := mustBuild(t, b)
		m.SetTrainable(nil)
		lm := lora.ForModel(m)
		cfg := lora.DefaultConfig()
		cfg.R, cfg.LoraAlpha, cfg.TargetModules = 4, 8, lora.Regex("all-linear")
		name := fmt.Sprintf("a%d", i)
		if err := lm.Add(name, cfg, "", uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(i), 99))
		for _, s := range lm.Layers() {
			if a := s.Adapter(name); a != nil {
				for j := range a.B.Data {
					a.B.Data[j] = float32(r.NormFloat64() * 0.5)
				}
			}
		}
		d := filepath.Join(dir, name)
		if err := lm.SaveAdapter(d, name); err != nil {
			t.Fatal(err)
		}
		out[name] = d
	}
	return out
}

// fixture is a running server on loopback with its adapters.
type fixture struct {
	b        base
	srv      *Server
	ts       *httptest.Server
	tok      tokenizer.Full
	adapters map[string]string
	client   openai.Client
}

func newFixture(t testing.TB, b base, nAdapters int, mod func(*Options)) *fixture {
	dir := t.TempDir()
	f := &fixture{b: b, tok: testTokenizer(t), adapters: makeAdapters(t, b, dir, nAdapters)}
	m := mustBuild(t, b)
	opt := Options{Model: m, Tokenizer: f.tok, BaseName: b.name, EOS: generate.EOSIDs(m, "", f.tok),
		Adapters: f.adapters, AdapterDir: dir, MaxBatch: 8, MaxQueue: 64}
	if mod != nil {
		mod(&opt)
	}
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	f.ts = httptest.NewServer(srv)
	t.Cleanup(func() { f.ts.Close(); srv.Close() })
	opts := []option.RequestOption{option.WithBaseURL(f.ts.URL + "/v1/"), option.WithMaxRetries(0)}
	if opt.APIKey != "" {
		opts = append(opts, option.WithAPIKey(opt.APIKey))
	} else {
		opts = append(opts, option.WithAPIKey("unused"))
	}
	f.client = openai.NewClient(opts...)
	return f
}

// solo is what golora generate --adapter DIR --temperature 0
// --max-new-tokens N prints after the prompt: generate.Run on a fresh model
// with the adapter attached as the CLI attaches it.
func (f *fixture) solo(t testing.TB, adapter string, prompt []int, maxNew int, chat bool) string {
	m := mustBuild(t, f.b)
	if adapter != "" {
		m.SetTrainable(nil)
		lm := lora.ForModel(m)
		names, err := lm.LoadDir(f.adapters[adapter], lora.DefaultName, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := lm.SetActive(names...); err != nil {
			t.Fatal(err)
		}
		lm.SetTrain(false)
	}
	eos := generate.EOSIDs(m, "", f.tok)
	var stops []string
	if chat {
		ids, s := generate.ChatStops(f.tok)
		eos, stops = append(eos, ids...), s
	}
	text := generate.NewText(f.tok, prompt, eos, stops)
	var out string
	_, err := generate.Run(m, prompt, generate.Options{MaxNew: maxNew, EOS: eos}, func(id int) bool {
		s, done := text.Push(id)
		out += s
		return !done
	})
	if err != nil {
		t.Fatal(err)
	}
	return out + text.Flush()
}

func (f *fixture) models() []string {
	names := []string{f.b.name}
	for i := range len(f.adapters) {
		names = append(names, fmt.Sprintf("a%d", i))
	}
	return names
}

func adapterOf(f *fixture, model string) string {
	if model == f.b.name {
		return ""
	}
	return model
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60e9)
	t.Cleanup(cancel)
	return ctx
}
