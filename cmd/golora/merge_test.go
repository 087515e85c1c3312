package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
)

// runGolora executes one command line on rootCmd and returns its stdout.
func runGolora(t *testing.T, args ...string) string {
	t.Helper()
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
			var in struct {
				InputIDs [][]int `json:"input_ids"`
			}
			raw, err := os.ReadFile(filepath.Join(base, "inputs.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Fatal(err)
			}
			var jsonl bytes.Buffer
			for _, row := range in.InputIDs {
				line, _ := json.Marshal(map[string][]int{"input_ids": row})
				jsonl.Write(append(line, '\n'))
			}
			data := filepath.Join(t.TempDir(), "inputs.jsonl")
			if err := os.WriteFile(data, jsonl.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Loss float64 `json:"loss"`
			}
			raw, _ = os.ReadFile(filepath.Join(adapter, "reference.json"))
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			var res struct {
				Loss float64 `json:"loss"`
			}
			out := runGolora(t, "eval", "--model", base, "--adapter", adapter, "--data", data, "--json")
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("eval output %q: %v", out, err)
			}
			if math.Abs(res.Loss-ref.Loss) > 1e-6 {
				t.Errorf("eval --adapter loss %.9f, reference %.9f", res.Loss, ref.Loss)
			}
		})
	}
}
