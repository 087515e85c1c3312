package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/golora/golora/generate"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tokenizer"
)

var prompts = []string{"Once upon a time", "The cat sat", "Lily and Ben went to the park. They", "One day"}

func completion(t testing.TB, f *fixture, model, prompt string, maxTokens int) (string, openai.Completion) {
	t.Helper()
	c, err := f.client.Completions.New(ctxT(t), openai.CompletionNewParams{
		Model:       openai.CompletionNewParamsModel(model),
		Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
		MaxTokens:   openai.Int(int64(maxTokens)),
		Temperature: openai.Float(0),
	})
	if err != nil {
		t.Fatalf("%s %q: %v", model, prompt, err)
	}
	return c.Choices[0].Text, *c
}

func chat(t testing.TB, f *fixture, model, user string, maxTokens int) (string, openai.ChatCompletion) {
	t.Helper()
	c, err := f.client.Chat.Completions.New(ctxT(t), openai.ChatCompletionNewParams{
		Model:       model,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You tell stories."), openai.UserMessage(user)},
		MaxTokens:   openai.Int(int64(maxTokens)),
		Temperature: openai.Float(0),
	})
	if err != nil {
		t.Fatalf("%s %q: %v", model, user, err)
	}
	return c.Choices[0].Message.Content, *c
}

func chatPrompt(t testing.TB, tok tokenizer.Full, user string) []int {
	ids, err := generate.ChatPrompt(tok, []tokenizer.Message{{Role: "system", Content: "You tell stories."}, {Role: "user", Content: user}})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestCompletionsMatchGenerate: on each base, every model (base and two
// adapters) answers completions and chat with exactly the text generate.Run
// gives alone with the adapter attached (golora generate --adapter), the
// adapters differ from the base, and usage counts the tokens.
func TestCompletionsMatchGenerate(t *testing.T) {
	for _, b := range bases {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b, 2, nil)
			page, err := f.client.Models.List(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range page.Data {
				ids = append(ids, m.ID)
			}
			if strings.Join(ids, ",") != strings.Join(f.models(), ",") {
				t.Fatalf("models %v, want %v", ids, f.models())
			}
			texts := map[string]string{}
			for _, model := range f.models() {
				p := prompts[0]
				got, c := completion(t, f, model, p, 24)
				ids := generate.TextPrompt(f.tok, p)
				if want := jsonText(f.solo(t, adapterOf(f, model), ids, 24, false)); got != want {
					t.Errorf("%s completion %q, generate alone %q", model, got, want)
				}
				if int(c.Usage.PromptTokens) != len(ids) || c.Usage.CompletionTokens < 1 || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
					t.Errorf("%s usage %+v for a %d-token prompt", model, c.Usage, len(ids))
				}
				texts[model] = got
				gotChat, cc := chat(t, f, model, "Tell me about a dog.", 20)
				wantChat := jsonText(f.solo(t, adapterOf(f, model), chatPrompt(t, f.tok, "Tell me about a dog."), 20, true))
				if gotChat != wantChat {
					t.Errorf("%s chat %q, generate alone %q", model, gotChat, wantChat)
				}
				if fr := cc.Choices[0].FinishReason; fr != "stop" && fr != "length" {
					t.Errorf("%s chat finish_reason %q", model, fr)
				}
			}
			// A prompt of more than two prefill chunks, through every model.
			long := strings.Repeat("the cat and the dog went to the park and ", 10)
			for _, model := range f.models() {
				got, _ := completion(t, f, model, long, 12)
				ids := generate.TextPrompt(f.tok, long)
				if len(ids) <= 2*generate.PrefillChunk {
					t.Fatalf("the long prompt has only %d tokens", len(ids))
				}
				if want := jsonText(f.solo(t, adapterOf(f, model), ids, 12, false)); got != want {
					t.Errorf("%s long-prompt completion %q, generate alone %q", model, got, want)
				}
			}
			if texts["a0"] == texts[b.name] || texts["a1"] == texts["a0"] {
				t.Errorf("the adapters do not change the output: %q", texts)
			}
		})
	}
}

// TestStreaming: streamed chat and completions concatenate to the
// non-streamed text, the first chat delta carries the role, finish_reason
// comes on the last choice chunk only, and include_usage adds a usage chunk
// with no choices.
func TestStreaming(t *testing.T) {
	f := newFixture(t, bases[0], 1, nil)
	want, _ := chat(t, f, "a0", "Hello!", 30)
	st := f.client.Chat.Completions.NewStreaming(ctxT(t), openai.ChatCompletionNewParams{
		Model:         "a0",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You tell stories."), openai.UserMessage("Hello!")},
		MaxTokens:     openai.Int(30),
		Temperature:   openai.Float(0),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var got strings.Builder
	var finishes []string
	chunks, usage := 0, int64(0)
	for st.Next() {
		c := st.Current()
		if chunks == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk %+v has no assistant role", c)
		}
		chunks++
		if c.Object != "chat.completion.chunk" || c.ID == "" {
			t.Errorf("chunk object %q id %q", c.Object, c.ID)
		}
		for _, ch := range c.Choices {
			got.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finishes = append(finishes, ch.FinishReason)
			}
		}
		if len(c.Choices) == 0 {
			usage = c.Usage.CompletionTokens
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Errorf("streamed %q, not streamed %q", got.String(), want)
	}
	if len(finishes) != 1 || usage < 1 {
		t.Errorf("finish reasons %v, usage chunk completion_tokens %d", finishes, usage)
	}
	wantC, _ := completion(t, f, "stories260K", "The dog", 12)
	cs := f.client.Completions.NewStreaming(ctxT(t), openai.CompletionNewParams{
		Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("The dog")},
		MaxTokens: openai.Int(12), Temperature: openai.Float(0),
	})
	got.Reset()
	last := ""
	for cs.Next() {
		for _, ch := range cs.Current().Choices {
			got.WriteString(ch.Text)
			last = string(ch.FinishReason)
		}
	}
	if err := cs.Err(); err != nil || got.String() != wantC || last != "length" {
		t.Errorf("streamed completion %q (finish %q, err %v), want %q", got.String(), last, err, wantC)
	}
	// The raw stream ends with data: [DONE].
	body := post(t, f, "/v1/completions", `{"model":"stories260K","prompt":"Hi","max_tokens":3,"stream":true}`, "")
	if !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("stream does not end with [DONE]: %q", body)
	}
}

// TestSamplingFields: n choices, seed reproducibility, stop strings.
func TestSamplingFields(t *testing.T) {
	f := newFixture(t, bases[0], 0, nil)
	params := openai.CompletionNewParams{
		Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(16), Temperature: openai.Float(1), TopP: openai.Float(0.9), Seed: openai.Int(7), N: openai.Int(3),
	}
	a, err := f.client.Completions.New(ctxT(t), params)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.client.Completions.New(ctxT(t), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Choices) != 3 || a.Choices[2].Index != 2 {
		t.Fatalf("n=3 gave %d choices", len(a.Choices))
	}
	for i := range a.Choices {
		if a.Choices[i].Text != b.Choices[i].Text {
			t.Errorf("seed 7 choice %d: %q then %q", i, a.Choices[i].Text, b.Choices[i].Text)
		}
	}
	full, _ := completion(t, f, "stories260K", "Once upon a time", 30)
	i := strings.Index(full, "Lily")
	if i < 0 {
		t.Fatalf("test prompt changed: %q", full)
	}
	c, err := f.client.Completions.New(ctxT(t), openai.CompletionNewParams{
		Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(30), Temperature: openai.Float(0), Stop: openai.CompletionNewParamsStopUnion{OfString: openai.String("Lily")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Choices[0].Text != full[:i] || c.Choices[0].FinishReason != "stop" {
		t.Errorf("stop at Lily: %q (%s), want %q", c.Choices[0].Text, c.Choices[0].FinishReason, full[:i])
	}
}

func post(t testing.TB, f *fixture, path, body, key string) string {
	t.Helper()
	code, out := do(t, f, "POST", path, body, key)
	if code != 200 {
		t.Fatalf("%s: %d %s", path, code, out)
	}
	return out
}

func do(t testing.TB, f *fixture, method, path, body, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func apiStatus(err error) int {
	var e *openai.Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// TestErrors: each error the API promises, through the openai client and
// raw HTTP, with OpenAI's error body.
func TestErrors(t *testing.T) {
	f := newFixture(t, bases[0], 1, func(o *Options) { o.APIKey = "sekret"; o.MaxBatch, o.MaxQueue, o.MaxBody, o.Ctx = 1, 1, 4096, 64 })
	ctx := ctxT(t)
	chatParams := func(model, role string, maxTokens int64) openai.ChatCompletionNewParams {
		msg := openai.UserMessage("hi")
		if role != "" {
			msg = openai.ChatCompletionMessageParamUnion{}
		}
		_ = msg
		return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}, MaxTokens: openai.Int(maxTokens)}
	}
	wrong := openai.NewClient(option.WithBaseURL(f.ts.URL+"/v1/"), option.WithAPIKey("nope"), option.WithMaxRetries(0))
	if _, err := wrong.Models.List(ctx); apiStatus(err) != 401 {
		t.Errorf("wrong key: %v", err)
	}
	if code, body := do(t, f, "GET", "/v1/models", "", ""); code != 401 || !strings.Contains(body, `"authentication_error"`) {
		t.Errorf("missing key: %d %s", code, body)
	}
	if _, err := f.client.Chat.Completions.New(ctx, chatParams("nope", "", 4)); apiStatus(err) != 404 {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := f.client.Chat.Completions.New(ctx, chatParams("a0", "", -1)); apiStatus(err) != 400 {
		t.Errorf("negative max_tokens: %v", err)
	}
	long := strings.Repeat("the cat sat on the mat ", 40)
	if _, err := f.client.Completions.New(ctx, openai.CompletionNewParams{Model: "a0", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(long)}}); apiStatus(err) != 400 {
		t.Errorf("prompt longer than the context: %v", err)
	}
	for _, c := range []struct {
		body string
		code int
		typ  string
	}{
		{`{"model":"a0","messages":[{"role":"wizard","content":"hi"}]}`, 400, "invalid_request_error"},
		{`{"model":"a0","messages":[]}`, 400, "invalid_request_error"},
		{`{"model":"a0","messages":[{"role":"user","content":"hi"}],"n":0}`, 400, "invalid_request_error"},
		{`{"model":"a0","messages":[{"role":"user","content":"hi"}],"temperature":-1}`, 400, "invalid_request_error"},
		{`{"model":"a0","messages":[{"role":"user","content":"hi"}],"top_p":2}`, 400, "invalid_request_error"},
		{`{"model":"a0","messages":[{"role":"user","content":"hi"}],"stop":[1,2]}`, 400, "invalid_request_error"},
		{`{"model":"a0","messages":`, 400, "invalid_request_error"},
		{`{"model":"a0","prompt":"` + strings.Repeat("x", 5000) + `"}`, 413, "invalid_request_error"},
	} {
		path := "/v1/chat/completions"
		if strings.Contains(c.body, `"prompt"`) {
			path = "/v1/completions"
		}
		code, body := do(t, f, "POST", path, c.body, "sekret")
		var e apiError
		if code != c.code || json.Unmarshal([]byte(body), &e) != nil || e.Error.Type != c.typ || e.Error.Message == "" {
			t.Errorf("%.60s: %d %s", c.body, code, body)
		}
	}
	// Queue full: hold the engine between steps so that one sequence fills
	// the one-place queue; the next request gets 429 with Retry-After.
	hold := make(chan struct{})
	go f.srv.eng.do(context.Background(), func() { <-hold })
	for len(f.srv.eng.ops) > 0 || !engineHeld(f) {
		time.Sleep(time.Millisecond)
	}
	first := make(chan error)
	go func() {
		_, err := f.client.Completions.New(ctx, openai.CompletionNewParams{Model: "a0", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Hi")}, MaxTokens: openai.Int(2)})
		first <- err
	}()
	for len(f.srv.eng.queue) == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := f.client.Completions.New(ctx, openai.CompletionNewParams{Model: "a0", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Hi")}, MaxTokens: openai.Int(2)})
	if apiStatus(err) != 429 {
		t.Errorf("full queue: %v", err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Errorf("the queued request failed: %v", err)
	}
	if code, _ := do(t, f, "GET", "/health", "", ""); code != 200 {
		t.Errorf("health: %d", code)
	}
}

// engineHeld reports whether the engine is busy in an op (it does not take
// another one).
func engineHeld(f *fixture) bool {
	select {
	case f.srv.eng.ops <- func() {}:
		return false
	case <-time.After(20 * time.Millisecond):
		return true
	}
}

// TestRuntimeAdapters: load from --adapter-dir, use, refuse paths outside
// it and adapters that do not fit the base, unload after running requests
// end, and 404 afterwards.
func TestRuntimeAdapters(t *testing.T) {
	f := newFixture(t, bases[0], 2, nil)
	dir := f.srv.opt.AdapterDir
	want, _ := completion(t, f, "a1", prompts[1], 16)
	// Load a1's folder again under a new name.
	if body := post(t, f, "/v1/adapters", `{"name":"again","path":"a1"}`, ""); !strings.Contains(body, `"again"`) {
		t.Fatalf("load: %s", body)
	}
	if got, _ := completion(t, f, "again", prompts[1], 16); got != want {
		t.Errorf("reloaded adapter %q, original %q", got, want)
	}
	outside := t.TempDir()
	other := makeAdapters(t, bases[1], outside, 1) // a GPT-2-shaped adapter
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other["a0"], filepath.Join(dir, "gpt2")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"name":"x","path":"../x"}`, 403},
		{`{"name":"x","path":"escape"}`, 403},
		{`{"name":"x","path":"` + outside + `"}`, 403},
		{`{"name":"x","path":"missing"}`, 404},
		{`{"name":"x","path":"gpt2"}`, 400}, // shapes do not match the base
		{`{"name":"a0","path":"a1"}`, 409},
		{`{"name":"../x","path":"a1"}`, 400},
	} {
		if code, body := do(t, f, "POST", "/v1/adapters", c.body, ""); code != c.code {
			t.Errorf("%s: %d %s, want %d", c.body, code, body, c.code)
		}
	}
	page, _ := f.client.Models.List(ctxT(t))
	if len(page.Data) != 4 {
		t.Errorf("models after loads: %d, want base + 3", len(page.Data))
	}
	// Unload while a long request runs: DELETE returns after it ends.
	st := f.client.Completions.NewStreaming(ctxT(t), openai.CompletionNewParams{
		Model: "again", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once")},
		MaxTokens: openai.Int(200), Temperature: openai.Float(0),
	})
	if !st.Next() {
		t.Fatal(st.Err())
	}
	deleted := make(chan int)
	go func() {
		code, _ := do(t, f, "DELETE", "/v1/adapters/again", "", "")
		deleted <- code
	}()
	n := 0
	for st.Next() {
		n++
	}
	if err := st.Err(); err != nil || n == 0 {
		t.Errorf("the running request broke during the unload: %v after %d chunks", err, n)
	}
	if code := <-deleted; code != 200 {
		t.Errorf("DELETE: %d", code)
	}
	if _, err := f.client.Completions.New(ctxT(t), openai.CompletionNewParams{Model: "again", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}}); apiStatus(err) != 404 {
		t.Errorf("unloaded adapter: %v", err)
	}
	if code, _ := do(t, f, "DELETE", "/v1/adapters/again", "", ""); code != 404 {
		t.Errorf("second DELETE: %d", code)
	}
	if got, _ := completion(t, f, "a1", prompts[1], 16); got != want {
		t.Errorf("a1 after unloading another adapter: %q, want %q", got, want)
	}
}

// wideBase is wide enough that even a decode step's rows, routed to
// different adapters, run side by side on the workers (lora's
// minGroupParallel; on the small bases only prefill steps do).
var wideBase = base{"rand-gpt2-wide", func() (model.Model, error) {
	return model.NewRandom(&model.Config{ModelType: "gpt2", VocabSize: 512, NEmbd: 256, NLayer: 1, NHead: 4, NPositions: 256}, 13)
}}

// TestMixedBatchExact: concurrent clients on the base and three adapters,
// with different prompts and lengths, each get exactly the answer the same
// request gets alone, on the embedded model and random GPT-2 and Llama
// shapes.
func TestMixedBatchExact(t *testing.T) {
	for _, b := range append(bases[:len(bases):len(bases)], wideBase) {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b, 3, nil)
			type req struct {
				model, prompt string
				chat          bool
				n             int
			}
			var reqs []req
			for i := range 24 {
				m := f.models()[i%4]
				// Prompts are unique, so each keys its own logits below.
				reqs = append(reqs, req{m, fmt.Sprintf("%s%s %d", prompts[i%len(prompts)], strings.Repeat(" and", i%5), i), i%3 == 0, 8 + i%13})
			}
			// Long prompts, prefilled in several chunks next to decoding rows.
			for i := range 4 {
				reqs = append(reqs, req{f.models()[i], strings.Repeat("the dog ran and ", 10+5*i), i%2 == 1, 10})
			}
			alone := make([]string, len(reqs))
			for i, r := range reqs {
				if r.chat {
					alone[i], _ = chat(t, f, r.model, r.prompt, r.n)
				} else {
					alone[i], _ = completion(t, f, r.model, r.prompt, r.n)
				}
			}
			// Every logit of every step, bit for bit, by request.
			var mu sync.Mutex
			bits := map[string][]uint64{}
			record := func(on bool) {
				f.srv.eng.do(context.Background(), func() {
					if !on {
						f.srv.eng.onLogits = nil
						return
					}
					f.srv.eng.onLogits = func(s *seq, lg []float32) {
						h := fnv.New64a()
						for _, v := range lg {
							binary.Write(h, binary.LittleEndian, math.Float32bits(v))
						}
						k := fmt.Sprint(s.adapter, s.prompt)
						mu.Lock()
						bits[k] = append(bits[k], h.Sum64())
						mu.Unlock()
					}
				})
			}
			record(true)
			for i, r := range reqs {
				if !r.chat {
					completion(t, f, r.model, r.prompt, reqs[i].n)
				}
			}
			aloneBits := bits
			bits = map[string][]uint64{}
			got := make([]string, len(reqs))
			var wg sync.WaitGroup
			for i, r := range reqs {
				wg.Go(func() {
					if r.chat {
						got[i], _ = chat(t, f, r.model, r.prompt, r.n)
					} else {
						got[i], _ = completion(t, f, r.model, r.prompt, r.n)
					}
				})
			}
			wg.Wait()
			record(false)
			for k, want := range aloneBits {
				// The batch ran chat requests too; compare the completions'.
				if g := bits[k]; !slices.Equal(g[:min(len(g), len(want))], want) {
					t.Errorf("%s: logits differ in the batch from alone", k)
				}
			}
			for i := range reqs {
				if got[i] != alone[i] {
					t.Errorf("%+v: %q in the batch, %q alone", reqs[i], got[i], alone[i])
				}
			}
			if f.srv.KVReserved() != 0 {
				t.Errorf("KV memory held after all requests: %d tokens", f.srv.KVReserved())
			}
		})
	}
}

// TestDisconnectFreesKV: a client that goes away mid-stream loses its KV
// memory at the next step.
func TestDisconnectFreesKV(t *testing.T) {
	f := newFixture(t, bases[0], 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	st := f.client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
		Model: "a0", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once")},
		MaxTokens: openai.Int(250), Temperature: openai.Float(0),
	})
	if !st.Next() {
		t.Fatal(st.Err())
	}
	if f.srv.KVReserved() == 0 {
		t.Error("no KV memory while a request runs")
	}
	cancel()
	st.Close()
	deadline := time.Now().Add(10 * time.Second)
	for f.srv.KVReserved() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("KV memory not freed after the client left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLoad: 64 clients × 20 requests mixing 8 adapters and the base on
// loopback, under a hard time limit: no errors, KV memory back to zero, no
// goroutine left behind once the server is closed.
func TestLoad(t *testing.T) {
	// kernels' worker pool is persistent by design.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/golora/golora/kernels.(*pool).loop"))
	f := newFixture(t, bases[0], 8, nil)
	// Deferred after goleak's check so it runs first, also when the test
	// fails: a failed load must not be reported as leaked goroutines too.
	defer func() {
		f.ts.Close()
		f.srv.Close()
		f.client = openai.Client{}
		http.DefaultClient.CloseIdleConnections()
	}()
	// 64 clients × 20 requests; -short (the race detector's run in
	// scripts/test.sh, ~10× slower) keeps the concurrency at a quarter of
	// the requests so the same hard limit holds on a loaded 2-core machine.
	clients, requests := 64, 20
	if testing.Short() {
		clients, requests = 32, 10
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for r := range requests {
				model := f.models()[(c+r)%9]
				var err error
				if r%2 == 0 {
					_, err = f.client.Completions.New(ctx, openai.CompletionNewParams{Model: openai.CompletionNewParamsModel(model),
						Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompts[r%4])}, MaxTokens: openai.Int(8), Temperature: openai.Float(0)})
				} else {
					st := f.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model,
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompts[c%4])}, MaxTokens: openai.Int(8)})
					for st.Next() {
					}
					err = st.Err()
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("client %d request %d: %w", c, r, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests in %s", clients*requests, time.Since(start).Round(time.Millisecond))
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	if n := f.srv.KVReserved(); n != 0 {
		t.Errorf("KV memory held after the load: %d tokens", n)
	}
}

// TestGracefulShutdown: cancelling ListenAndServe's context lets a running
// request finish, refuses new connections and returns nil.
func TestGracefulShutdown(t *testing.T) {
	m := mustBuild(t, bases[0])
	tok := testTokenizer(t)
	srv, err := New(Options{Model: m, Tokenizer: tok, BaseName: "stories260K", EOS: generate.EOSIDs(m, "", tok)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error)
	go func() { done <- srv.ListenAndServe(ctx, "127.0.0.1:0", 10*time.Second, func(a string) { addrc <- a }) }()
	addr := <-addrc
	resp, err := http.Post("http://"+addr+"/v1/completions", "application/json",
		bytes.NewBufferString(`{"model":"stories260K","prompt":"Once","max_tokens":200,"temperature":0,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("the running request did not finish: %v %q", err, rest)
	}
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/health"); err == nil {
		t.Error("still accepting after shutdown")
	}
}

// TestMetrics: the Prometheus endpoint reports requests, tokens, queue,
// batch size and time to first token.
func TestMetrics(t *testing.T) {
	f := newFixture(t, bases[0], 0, nil)
	completion(t, f, "stories260K", "Hi", 4)
	code, body := do(t, f, "GET", "/metrics", "", "")
	for _, m := range []string{`golora_requests_total{code="200",endpoint="/v1/completions"} 1`, "golora_generation_tokens_total 4",
		"golora_prompt_tokens_total", "golora_num_requests_waiting 0", "golora_num_requests_running 0", "golora_batch_size_count", "golora_time_to_first_token_seconds_count 1"} {
		if code != 200 || !strings.Contains(body, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// jsonText is s as a JSON string carries it: invalid UTF-8 (random models
// emit stray bytes) becomes U+FFFD, as encoding/json writes it.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

// TestKVBudget: with a KV budget of one context, sequences that each
// reserve more than half of it wait for the memory instead of failing, run
// one at a time, and still give their answers alone.
func TestKVBudget(t *testing.T) {
	f := newFixture(t, bases[0], 1, func(o *Options) { o.Ctx, o.KVTokens = 64, 64 })
	want, _ := completion(t, f, "a0", "Once upon a time", 40)
	var wg sync.WaitGroup
	got := make([]string, 6)
	for i := range got {
		wg.Go(func() { got[i], _ = completion(t, f, "a0", "Once upon a time", 40) })
	}
	wg.Wait()
	for i, g := range got {
		if g != want {
			t.Errorf("request %d: %q, alone %q", i, g, want)
		}
	}
	_, body := do(t, f, "GET", "/metrics", "", "")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, `golora_batch_size_bucket{le="1"}`) && !strings.HasSuffix(line, "} "+strings.TrimPrefix(countLine(body, "golora_batch_size_count"), "golora_batch_size_count ")) {
			t.Errorf("a step ran more than one sequence under a one-context budget: %s / %s", line, countLine(body, "golora_batch_size_count"))
		}
	}
}

func countLine(body, name string) string {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}
