package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchJSON runs a bench subcommand and decodes its one JSON line.
func benchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := runGolora(t, append([]string{"bench"}, args...)...)
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("bench %v printed more than one line: %q", args, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("bench %v: %q is not JSON: %v", args, out, err)
	}
	return m
}

func positive(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := m[k].(float64); !ok || !(v > 0) {
			t.Errorf("%s = %v, want a positive number (in %v)", k, m[k], m)
		}
	}
}

// TestBenchCommands runs every bench subcommand on tiny sizes and checks
// the JSON fields the scripts in bench/ read.
func TestBenchCommands(t *testing.T) {
	positive(t, benchJSON(t, "gemm", "17", "33", "65", "--transb", "--repeat", "3", "--threads", "2"), "gflops", "threads")
	positive(t, benchJSON(t, "peak", "--duration", "20ms"), "gflops", "threads")
	positive(t, benchJSON(t, "membw", "--mib", "4", "--reps", "1"), "read_gb_per_s")

	small := []string{"--arch", "llama", "--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--vocab", "97", "--threads", "2"}
	g := benchJSON(t, append([]string{"generate", "--prompt-len", "9", "--new-tokens", "5", "--weights", "f16", "--repeat", "2"}, small...)...)
	positive(t, g, "prefill_tokens_per_s", "decode_tokens_per_s", "prefill_flops_per_token", "decode_weight_bytes_per_token", "peak_rss_mib")
	if g["weights"] != "f16" || g["prefill_runs"] != float64(2) {
		t.Errorf("bench generate: weights %v, prefill_runs %v", g["weights"], g["prefill_runs"])
	}
	positive(t, benchJSON(t, append([]string{"generate", "--prompt-len", "9", "--new-tokens", "0", "--all-logits", "--prepack"}, small...)...), "prefill_tokens_per_s", "prepacked_mib")
	gb := benchJSON(t, append([]string{"generate", "--prompt-len", "9", "--new-tokens", "3", "--breakdown"}, small...)...)
	for _, k := range []string{"prefill_breakdown", "decode_breakdown"} {
		if bd, ok := gb[k].(map[string]any); ok {
			positive(t, bd, "step_ms", "regions", "gemm_calls")
		} else {
			t.Errorf("bench generate --breakdown: no %s in %v", k, gb)
		}
	}

	tr := benchJSON(t, append([]string{"train", "--batch", "2", "--seq-len", "16", "--steps", "2", "--r", "4", "--vs-none"}, small[:len(small)-2]...)...)
	positive(t, tr, "tokens_per_s", "step_ms", "gflops", "trainable_params")
	vs, ok := tr["vs_none"].(map[string]any)
	if !ok {
		t.Fatalf("bench train --vs-none: no vs_none in %v", tr)
	}
	positive(t, vs, "method_step_ms", "none_step_ms", "ratio", "ratio_min", "ratio_max")
	none := benchJSON(t, append([]string{"train", "--batch", "2", "--seq-len", "16", "--steps", "1", "--method", "none", "--breakdown"}, small[:len(small)-2]...)...)
	if none["trainable_params"] != float64(0) || none["method"] != "none" {
		t.Errorf("bench train --method none: %v", none)
	}
	bd, ok := none["breakdown"].(map[string]any)
	if !ok {
		t.Fatalf("bench train --breakdown: no breakdown in %v", none)
	}
	positive(t, bd, "step_ms", "gemm_ms", "gemm_calls")
	if gs, _ := bd["gemms"].([]any); len(gs) == 0 {
		t.Errorf("bench train --breakdown: no GEMM shapes in %v", bd)
	}
	// every parallel region is named by the model or nn function that ran it
	ops, _ := bd["ops"].([]any)
	regions := 0.0
	for _, o := range ops {
		op := o.(map[string]any)
		if name, _ := op["op"].(string); !strings.HasPrefix(name, "model.") && !strings.HasPrefix(name, "nn.") && !strings.HasPrefix(name, "lora.") || strings.Contains(name, ".func") {
			t.Errorf("bench train --breakdown: op %q, want a model, nn or lora function", name)
		}
		regions += op["regions"].(float64)
	}
	if len(ops) == 0 || regions != bd["regions"] {
		t.Errorf("bench train --breakdown: %d ops of %v regions, want all %v", len(ops), regions, bd["regions"])
	}
}

// TestBenchServe runs bench serve on the embedded model at tiny sizes: a
// summary line per contender with its rates per wall and per CPU second.
func TestBenchServe(t *testing.T) {
	out := runGolora(t, "bench", "serve", "--rounds", "1", "--adapters", "1,2", "--batches", "1,2", "--clients", "2", "--requests", "1", "--max-tokens", "4", "--threads", "1")
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q is not JSON: %v", line, err)
		}
		if m["summary"] == true {
			n++
			positive(t, m, "tokens_per_s_median", "ratio_median", "tokens_per_cpu_s_median", "cpu_ratio_median")
		}
	}
	if n != 5 { // 1 and 2 adapters, the base, N=1 and N=2
		t.Errorf("%d summary lines, want 5:\n%s", n, out)
	}
}
