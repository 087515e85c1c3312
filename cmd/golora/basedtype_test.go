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
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tensor"
)

// bf16Embedded saves the embedded model as a BF16 checkpoint (with its
// tokenizer) in a temporary folder and returns the folder.
func bf16Embedded(t *testing.T) string {
	t.Helper()
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := model.SaveHFDType(m, dir, tensor.BF16); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tok512.bin"), embedded.Tokenizer, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBaseDTypeCommands runs --base-dtype through every command that loads
// a model, on the embedded model saved as a BF16 checkpoint.
func TestBaseDTypeCommands(t *testing.T) {
	dir := bf16Embedded(t)

	// eval: the bf16 base's loss is within 1% of the float32 one.
	var jsonl bytes.Buffer
	for _, row := range [][]int{{1, 403, 407, 261, 378, 432, 383, 286, 300, 410}, {1, 65, 300, 70, 301, 280, 260, 290}} {
		line, _ := json.Marshal(map[string][]int{"input_ids": row})
		jsonl.Write(append(line, '\n'))
	}
	data := filepath.Join(t.TempDir(), "ids.jsonl")
	os.WriteFile(data, jsonl.Bytes(), 0o644)
	var lf, lh struct{ Loss float64 }
	json.Unmarshal([]byte(runGolora(t, "eval", "--model", dir, "--data", data, "--json", "--base-dtype", "f32")), &lf)
	json.Unmarshal([]byte(runGolora(t, "eval", "--model", dir, "--data", data, "--json", "--base-dtype", "auto")), &lh)
	if !(lf.Loss > 0) || math.Abs(lh.Loss-lf.Loss) > 0.01*lf.Loss || lh.Loss == lf.Loss {
		t.Errorf("eval loss bf16 %v, f32 %v: want within 1%% (and computed differently)", lh.Loss, lf.Loss)
	}

	if out := runGolora(t, "generate", "--model", dir, "--base-dtype", "bf16", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "16"); !strings.HasPrefix(out, "Once upon a time") {
		t.Errorf("generate --base-dtype bf16: %q", out)
	}

	// Sizes through --config: pflag remembers every flag ever set on a
	// FlagSet, and a later test's YAML values must not be overridden.
	yml := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(yml, []byte("seq-len: 32\nbatch: 2\nr: 2\n"), 0o644)
	runGolora(t, "train", "--model", dir, "--base-dtype", "auto", "--config", yml, "--steps", "2", "--eval-every", "0", "--out", t.TempDir())
	if _, err := runGoloraErr("train", "--model", dir, "--method", "full", "--base-dtype", "bf16", "--steps", "1", "--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "float32 masters") {
		t.Errorf("train --method full --base-dtype bf16: %v", err)
	}
	if _, err := runGoloraErr("train", "--model", dir, "--method", "full", "--base-dtype", "auto", "--steps", "1", "--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "float32 master") {
		t.Errorf("train --method full --base-dtype auto on a bf16 checkpoint: %v", err)
	}
	if _, err := runGoloraErr("eval", "--model", dir, "--data", data, "--base-dtype", "fp8"); err == nil || !strings.Contains(err.Error(), "--base-dtype") {
		t.Errorf("eval --base-dtype fp8: %v", err)
	}

	// merge writes the checkpoint's dtype unless --dtype says otherwise.
	cfg := lora.DefaultConfig()
	cfg.TargetModules = lora.List("q_proj", "v_proj")
	_, adapter := savedLoRA(t, cfg)
	for _, c := range []struct{ flag, want string }{{"", "BF16"}, {"--dtype=f32", "F32"}, {"--dtype=f16", "F16"}} {
		out := t.TempDir()
		args := []string{"merge", "--model", dir, "--adapter", adapter, "--out", out, "--base-dtype", "bf16"}
		if c.flag != "" {
			args = append(args, c.flag)
		}
		runGolora(t, args...)
		f, err := safetensors.Open(filepath.Join(out, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		in, _ := f.Info("model.layers.0.self_attn.q_proj.weight")
		f.Close()
		if in.DType != c.want {
			t.Errorf("merge %s wrote %s, want %s", c.flag, in.DType, c.want)
		}
	}

	small := []string{"--arch", "llama", "--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--vocab", "97", "--base-dtype", "bf16"}
	g := benchJSON(t, append([]string{"generate", "--prompt-len", "9", "--new-tokens", "3", "--repeat", "1"}, small...)...)
	tr := benchJSON(t, append([]string{"train", "--batch", "2", "--seq-len", "16", "--steps", "1", "--r", "4"}, small...)...)
	if g["base_dtype"] != "bf16" || tr["base_dtype"] != "bf16" {
		t.Errorf("bench base_dtype: generate %v, train %v", g["base_dtype"], tr["base_dtype"])
	}
	if k := kernels.HalfKernel(tensor.BF16); k == "" || g["base_kernel"] != k || tr["base_kernel"] != k {
		t.Errorf("bench base_kernel: generate %v, train %v, want %q", g["base_kernel"], tr["base_kernel"], k)
	}
	if _, err := runGoloraErr(append([]string{"bench", "train", "--batch", "2", "--seq-len", "16", "--steps", "1", "--method", "full"}, small...)...); err == nil || !strings.Contains(err.Error(), "float32 master") {
		t.Errorf("bench train --method full --base-dtype bf16: %v", err)
	}
}
