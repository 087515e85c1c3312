package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
)

// TestQuantBaseCommands runs --base-dtype q8_0|q4_k through the commands,
// and checks the quality goal of issue 18 on models with structure: the
// eval loss on held-out text within 0.5% of float32 with Q8_0 and within 3%
// with Q4_K, on the project's pretrained kjv-wide (hidden 256, so Q4_K
// applies to all but the MLP down projections, whose rows of 704 are Q8_0)
// and, Q8_0 only, on the embedded stories260K (hidden 64 fits no Q4_K row).
func TestQuantBaseCommands(t *testing.T) {
	root, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	kjv := filepath.Join(root, "experiment", "bases", "kjv-wide")
	head := func(src string, n int) string {
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var lines []string
		for s := bufio.NewScanner(f); s.Scan() && len(lines) < n; {
			lines = append(lines, s.Text())
		}
		out := filepath.Join(t.TempDir(), "eval.jsonl")
		os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		return out
	}
	kjvData := head(filepath.Join(root, "experiment", "tasks", "kjv-nt", "valid.jsonl"), 24)
	storyData := head(filepath.Join(root, "data", "demo", "stories_zoe.jsonl"), 24)
	loss := func(args ...string) float64 {
		var r struct{ Loss float64 }
		if err := json.Unmarshal([]byte(runGolora(t, append([]string{"eval", "--json"}, args...)...)), &r); err != nil || !(r.Loss > 0) {
			t.Fatalf("eval %v: %v %v", args, r.Loss, err)
		}
		return r.Loss
	}
	for _, c := range []struct {
		model, data, dt string
		tol             float64
	}{{kjv, kjvData, "q8_0", 0.005}, {kjv, kjvData, "q4_k", 0.03}, {"", storyData, "q8_0", 0.005}} {
		f32 := loss("--model", c.model, "--data", c.data, "--base-dtype", "f32")
		q := loss("--model", c.model, "--data", c.data, "--base-dtype", c.dt)
		name := "embedded"
		if c.model != "" {
			name = filepath.Base(c.model)
		}
		t.Logf("%s %s: loss %.5f, f32 %.5f (%+.3f%%)", name, c.dt, q, f32, 100*(q/f32-1))
		if math.Abs(q-f32) > c.tol*f32 || q == f32 {
			t.Errorf("%s --base-dtype %s: loss %v, f32 %v: want within %.1f%% (and computed differently)", c.model, c.dt, q, f32, 100*c.tol)
		}
	}

	if out := runGolora(t, "generate", "--model", kjv, "--base-dtype", "q4_k", "--prompt", "And God said", "--temperature", "0", "--max-tokens", "12"); !strings.HasPrefix(out, "And God said") {
		t.Errorf("generate --base-dtype q4_k: %q", out)
	}
	yml := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(yml, []byte("seq-len: 32\nbatch: 2\nr: 2\n"), 0o644)
	runGolora(t, "train", "--model", kjv, "--data", kjvData, "--base-dtype", "q4_k", "--config", yml, "--steps", "2", "--eval-every", "0", "--out", t.TempDir())
	if _, err := runGoloraErr("train", "--model", kjv, "--method", "full", "--base-dtype", "q8_0", "--steps", "1", "--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "float32 masters") {
		t.Errorf("train --method full --base-dtype q8_0: %v", err)
	}

	// merge on a quantized base dequantizes it (as PEFT's merge_and_unload
	// on a 4-bit model does) and writes the checkpoint's dtype.
	out := t.TempDir()
	adapter := t.TempDir()
	runGolora(t, "train", "--model", kjv, "--data", kjvData, "--base-dtype", "q8_0", "--config", yml, "--steps", "1", "--eval-every", "0", "--out", adapter)
	runGolora(t, "merge", "--model", kjv, "--adapter", adapter, "--out", out, "--base-dtype", "q8_0")
	f, err := safetensors.Open(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := f.Info("model.layers.0.self_attn.q_proj.weight")
	f.Close()
	if in.DType != "BF16" {
		t.Errorf("merge --base-dtype q8_0 wrote %s, want the checkpoint's BF16", in.DType)
	}

	small := []string{"--arch", "llama", "--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--vocab", "97", "--base-dtype", "q8_0"}
	g := benchJSON(t, append([]string{"generate", "--prompt-len", "9", "--new-tokens", "3", "--repeat", "1"}, small...)...)
	tr := benchJSON(t, append([]string{"train", "--batch", "2", "--seq-len", "16", "--steps", "1", "--r", "4"}, small...)...)
	if g["base_dtype"] != "q8_0" || tr["base_dtype"] != "q8_0" {
		t.Errorf("bench base_dtype: generate %v, train %v", g["base_dtype"], tr["base_dtype"])
	}
}
