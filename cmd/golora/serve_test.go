package main

import (
	"bufio"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// randomAdapter saves a rank-4 LoRA adapter with random A and B for the
// embedded model.
func randomAdapter(t *testing.T) string {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	m.SetTrainable(nil)
	lm := lora.ForModel(m)
	cfg := lora.DefaultConfig()
	cfg.R, cfg.LoraAlpha, cfg.TargetModules = 4, 8, lora.Regex("all-linear")
	if err := lm.Add("tuned", cfg, "", 3); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range lm.Layers() {
		if a := s.Adapter("tuned"); a != nil {
			for i := range a.B.Data {
				a.B.Data[i] = float32(r.NormFloat64() * 0.5)
			}
		}
	}
	dir := filepath.Join(t.TempDir(), "tuned")
	if err := lm.SaveAdapter(dir, "tuned"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServeMatchesGenerate: golora serve answers a greedy completion for an
// adapter with exactly the text golora generate --adapter prints, logs the
// request's line, and exits cleanly (nil error, so status 0) on SIGTERM; the same with the base kept
// in BF16 (--base-dtype bf16, a BF16 checkpoint of the embedded model).
func TestServeMatchesGenerate(t *testing.T) {
	dir := randomAdapter(t)
	bf16 := bf16Embedded(t)
	for _, base := range [][]string{nil, {"--model", bf16, "--base-dtype", "bf16"}} {
		const prompt = "Once upon a time"
		want := runGolora(t, append([]string{"generate", "--adapter", dir, "--prompt", prompt, "--temperature", "0", "--max-new-tokens", "40"}, base...)...)
		got, _ := serveCompletion(t, append([]string{"serve", "--adapter", "tuned=" + dir, "--port", "0", "--max-batch", "4"}, base...),
			`{"model":"tuned","prompt":"`+prompt+`","max_tokens":40,"temperature":0}`)
		if prompt+got+"\n" != want {
			t.Errorf("%v: serve %q, generate %q", base, got, want)
		}
	}
}

// serveCompletion runs golora with args (a serve command on port 0), posts
// body to its /v1/completions, stops it with SIGTERM and returns the
// completion's text and the line serve started with; it fails unless the
// request was logged.
func serveCompletion(t *testing.T, args []string, body string) (text, started string) {
	t.Helper()
	resetFlags()
	pr, pw := io.Pipe()
	rootCmd.SetErr(pw)
	rootCmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- rootCmd.Execute(); pw.Close() }()
	defer func() { rootCmd.SetErr(nil); rootCmd.SetArgs(nil) }()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("serve printed nothing: %v", <-done)
	}
	first := lines.Text()
	logged := make(chan string, 1)
	go func() { // the request log lines
		var b strings.Builder
		for lines.Scan() {
			b.WriteString(lines.Text() + "\n")
		}
		io.Copy(io.Discard, pr)
		logged <- b.String()
	}()
	i := strings.Index(first, "http://")
	if i < 0 {
		t.Fatalf("no address in %q", first)
	}
	url := strings.TrimSpace(first[i:])
	resp, err := http.Post(url+"/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Choices []struct{ Text string }
	}
	json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if len(c.Choices) != 1 {
		t.Fatalf("serve answered %+v", c.Choices)
	}
	// One line per request: id, model, tokens in and out, queue wait, time.
	var req struct{ Model string }
	json.Unmarshal([]byte(body), &req)
	line := regexp.MustCompile(`cmpl-\d+ model=` + regexp.QuoteMeta(req.Model) + ` in=[1-9]\d* out=[1-9]\d* wait=\S+ time=\S+ status=200`)
	if log := <-logged; !line.MatchString(log) {
		t.Errorf("no request line %v in the log:\n%s", line, log)
	}
	return c.Choices[0].Text, first
}

// TestServeKVTokens: --kv-tokens sets the KV budget serve reports at start
// (and requests fitting it are served); a budget below one --ctx, or a
// negative one, is refused naming the flag.
func TestServeKVTokens(t *testing.T) {
	_, started := serveCompletion(t, []string{"serve", "--port", "0", "--ctx", "100", "--kv-tokens", "150"},
		`{"model":"stories260K","prompt":"Once upon a time","max_tokens":20,"temperature":0}`)
	// stories260K: 5 layers × 4 KV heads × 8 values × (key, value) × 4 bytes
	// = 1280 bytes a token
	if want := "KV budget 150 tokens, 0.2 MiB"; !strings.Contains(started, want) {
		t.Errorf("serve started with %q, want %q", started, want)
	}
	for _, args := range [][]string{{"--ctx", "64", "--kv-tokens", "32"}, {"--kv-tokens", "-1"}} {
		if _, err := runGoloraErr(append([]string{"serve", "--port", "0"}, args...)...); err == nil || !strings.Contains(err.Error(), "--kv-tokens") {
			t.Errorf("serve %v: %v, want an error naming --kv-tokens", args, err)
		}
	}
}

// TestChatPiped: golora chat reads one user turn per line, streams each
// reply on its own line, and /reset starts over: the same message after a
// reset gets the same greedy reply.
func TestChatPiped(t *testing.T) {
	resetFlags()
	var out strings.Builder
	rootCmd.SetOut(&out)
	rootCmd.SetIn(strings.NewReader("Hello there\n/reset\nHello there\n/exit\nnever read\n"))
	rootCmd.SetArgs([]string{"chat", "--temperature", "0", "--max-new-tokens", "12", "--system", "You are kind."})
	err := rootCmd.Execute()
	rootCmd.SetOut(nil)
	rootCmd.SetIn(nil)
	rootCmd.SetArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each reply ends with a newline; the two replies are equal.
	all := out.String()
	half := all[:len(all)/2]
	if len(all) < 4 || half+half != all {
		t.Errorf("chat printed %q: want the same reply twice", all)
	}
	// generate --chat renders the same turn the same way.
	one := runGolora(t, "generate", "--chat", "--system", "You are kind.", "--prompt", "Hello there", "--temperature", "0", "--max-new-tokens", "12")
	if one != half {
		t.Errorf("generate --chat %q, chat %q", one, half)
	}
}
