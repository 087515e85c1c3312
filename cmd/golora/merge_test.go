package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tokenizer"
	"github.com/golora/golora/train"
)

// resetFlags puts every flag of every command back to its default and
// unchanged, so that one test's command line does not leak into the next
// (cobra keeps flag values in package variables between Executes).
func resetFlags() {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.PersistentFlags(), c.Flags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if sv, ok := f.Value.(pflag.SliceValue); ok {
					sv.Replace(nil)
				} else {
					f.Value.Set(f.DefValue)
				}
				f.Changed = false
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd)
}

// savedLoRA adds an adapter of cfg with random A and B (init "false", so a
// merge has something to show) to the embedded model and saves it; it
// returns the adapted model and the adapter folder.
func savedLoRA(t *testing.T, cfg *lora.Config) (model.Model, string) {
	t.Helper()
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	lm := lora.ForModel(m)
	if err := lm.Add(lora.DefaultName, cfg, "false", 7); err != nil {
		t.Fatal(err)
	}
	lm.SetTrain(false)
	adapter := t.TempDir()
	if err := lm.Save(adapter); err != nil {
		t.Fatal(err)
	}
	return m, adapter
}

// sameGenerate checks that golora generate writes the same greedy text (from
// "Once upon a time", at most maxTokens tokens) with the model arguments got
// as with want, e.g. a merged folder and its base with the adapter, and
// returns that text.
func sameGenerate(t *testing.T, maxTokens int, want, got []string) string {
	t.Helper()
	gen := []string{"generate", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", strconv.Itoa(maxTokens)}
	a := runGolora(t, append(slices.Clone(gen), want...)...)
	if b := runGolora(t, append(slices.Clone(gen), got...)...); b != a {
		t.Errorf("generate %s:\n%q\nwant the text of generate %s:\n%q", strings.Join(got, " "), b, strings.Join(want, " "), a)
	}
	return a
}

// runGolora executes one command line on rootCmd, from default flags, and
// returns its stdout.
func runGolora(t *testing.T, args ...string) string {
	t.Helper()
	resetFlags()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	rootCmd.SetOut(nil)
	rootCmd.SetArgs(nil)
	if err != nil {
		t.Fatalf("golora %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

var loraFixtures = []struct{ adapter, base string }{
	{"lora-tiny-gpt2", "tiny-gpt2"},
	{"lora-tiny-llama", "tiny-llama"},
	{"lora-tiny-qwen2", "tiny-qwen2"},
	{"lora-tiny-llama-rslora", "tiny-llama"},
}

// TestMergeCommand merges each PEFT fixture into its base and compares the
// written checkpoint with the fixture's merged model.
func TestMergeCommand(t *testing.T) {
	for _, fx := range loraFixtures {
		t.Run(fx.adapter, func(t *testing.T) {
			adapter := testutil.Shared(t, "fixtures", fx.adapter)
			base := testutil.Shared(t, "fixtures", fx.base)
			out := t.TempDir()
			runGolora(t, "merge", "--model", base, "--adapter", adapter, "--out", out)
			got, err := safetensors.Open(filepath.Join(out, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			want, err := safetensors.Open(filepath.Join(adapter, "merged", "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			if g, w := strings.Join(got.Names(), ","), strings.Join(want.Names(), ","); g != w {
				t.Fatalf("tensor names differ:\n got %s\nwant %s", g, w)
			}
			for _, n := range want.Names() {
				a, _ := want.Tensor(n)
				b, _ := got.Tensor(n)
				testutil.GradClose(t, n, b.Data, testutil.To64(a.Data), 1e-6, 0)
			}
		})
	}
}

// TestEvalAdapterLoss: golora eval --adapter reproduces each fixture's
// reference loss on the base model's inputs.
func TestEvalAdapterLoss(t *testing.T) {
	for _, fx := range append(loraFixtures, struct{ adapter, base string }{"lora-tiny-llama-init", "tiny-llama"}) {
		t.Run(fx.adapter, func(t *testing.T) {
			adapter := testutil.Shared(t, "fixtures", fx.adapter)
			base := testutil.Shared(t, "fixtures", fx.base)
			var jsonl bytes.Buffer
			for _, row := range testutil.InputIDs(t, base) {
				line, _ := json.Marshal(map[string][]int{"input_ids": row})
				jsonl.Write(append(line, '\n'))
			}
			data := filepath.Join(t.TempDir(), "inputs.jsonl")
			if err := os.WriteFile(data, jsonl.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			refLoss := testutil.ReferenceLoss(t, adapter)
			var res struct {
				Loss float64 `json:"loss"`
			}
			out := runGolora(t, "eval", "--model", base, "--adapter", adapter, "--data", data, "--json")
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("eval output %q: %v", out, err)
			}
			if math.Abs(res.Loss-refLoss) > 1e-6 {
				t.Errorf("eval --adapter loss %.9f, reference %.9f", res.Loss, refLoss)
			}
		})
	}
}

// TestMergeEmbedded merges a random adapter into the embedded model: the
// merged folder must carry a tokenizer and give the adapted model's logits
// and greedy text.
func TestMergeEmbedded(t *testing.T) {
	cfg := lora.DefaultConfig()
	cfg.TargetModules = lora.List("q_proj", "v_proj", "down_proj")
	m, adapter := savedLoRA(t, cfg)
	ids := []int{1, 403, 407, 261, 378, 432, 383, 286}
	want := append([]float32(nil), m.Forward(ids, 1, len(ids))...)

	out := filepath.Join(t.TempDir(), "merged")
	runGolora(t, "merge", "--model=", "--adapter", adapter, "--out", out)
	for _, f := range []string{"config.json", "model.safetensors", "tok512.bin"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("merged folder lacks %s: %v", f, err)
		}
	}
	merged, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	got := merged.Forward(ids, 1, len(ids))
	var maxAbs, maxDiff float64
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
	}
	if maxDiff > 1e-5*maxAbs {
		t.Errorf("merged logits differ from adapted ones by %g (max |logit| %g)", maxDiff, maxAbs)
	}
	sameGenerate(t, 24, []string{"--model=", "--adapter", adapter}, []string{"--model", out, "--adapter="})
}

// TestEvalTextRecords: a {"text"} record is scored as BOS + text + EOS,
// the same as the equivalent {"input_ids"} record, and both equal the
// model's own loss on those ids.
func TestEvalTextRecords(t *testing.T) {
	tok, err := tokenizer.ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	text := "Once upon a time, there was a little dog named Max."
	ids := append(append([]int{tok.BOS()}, tok.Encode(text)...), tok.EOS())
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	targets := append(append([]int(nil), ids[1:]...), model.IgnoreIndex)
	want := m.Loss(ids, targets, 1, len(ids))

	dir := t.TempDir()
	textFile, idsFile := filepath.Join(dir, "text.jsonl"), filepath.Join(dir, "ids.jsonl")
	line, _ := json.Marshal(map[string]string{"text": text})
	os.WriteFile(textFile, append(line, '\n'), 0o644)
	line, _ = json.Marshal(map[string][]int{"input_ids": ids})
	os.WriteFile(idsFile, append(line, '\n'), 0o644)
	for _, f := range []string{textFile, idsFile} {
		var res train.EvalResult
		out := runGolora(t, "eval", "--model=", "--adapter=", "--data", f, "--json")
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: output %q: %v", f, out, err)
		}
		if res.Tokens != len(ids)-1 || math.Abs(res.Loss-want) > 1e-9 || math.Abs(res.Perplexity-math.Exp(want)) > 1e-9*math.Exp(want) {
			t.Errorf("%s: %+v, want loss %.9f over %d tokens", filepath.Base(f), res, want, len(ids)-1)
		}
	}
}
