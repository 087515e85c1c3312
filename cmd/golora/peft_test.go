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
)

// runGoloraErr executes one command line and returns its error and output.
func runGoloraErr(args ...string) (string, error) {
	resetFlags()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	rootCmd.SetOut(nil)
	rootCmd.SetErr(nil)
	rootCmd.SetArgs(nil)
	return out.String(), err
}

func evalLoss(t *testing.T, args ...string) float64 {
	t.Helper()
	var res struct {
		Loss float64 `json:"loss"`
	}
	data := filepath.Join(t.TempDir(), "eval.jsonl")
	rows := `{"input_ids": [1, 403, 407, 261, 378, 432, 383, 286, 300, 12, 99]}` + "\n" + `{"input_ids": [1, 17, 280, 310, 44, 5, 411, 402, 301]}` + "\n"
	if err := os.WriteFile(data, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runGolora(t, append([]string{"eval", "--json", "--data", data}, args...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval output %q: %v", out, err)
	}
	return res.Loss
}

// TestTrainSaveModules: train --save-modules lm_head,embed_tokens on the
// embedded (tied) model saves both copies under PEFT 0.21's keys; eval and
// generate apply them, and merge writes them (untied) so the merged
// folder gives the same loss and text.
func TestTrainSaveModules(t *testing.T) {
	out := t.TempDir()
	runGolora(t, "train", "--steps", "3", "--seq-len", "32", "--batch", "2", "--lr", "0.01", "--eval-every", "0",
		"--save-modules", "lm_head,embed_tokens", "--out", out)
	f, err := safetensors.Open(filepath.Join(out, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"base_model.model.lm_head.weight", "base_model.model.model.embed_tokens.weight"} {
		if _, ok := f.Info(k); !ok {
			t.Errorf("adapter lacks %s: %v", k, f.Names())
		}
	}
	f.Close()
	cfg, _ := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	if !strings.Contains(string(cfg), `"modules_to_save": [`) {
		t.Errorf("adapter_config.json lacks modules_to_save:\n%s", cfg)
	}
	adapted := evalLoss(t, "--model=", "--adapter", out)
	base := evalLoss(t, "--model=")
	if adapted == base {
		t.Fatalf("the adapter does not change the loss (%g)", base)
	}
	merged := filepath.Join(t.TempDir(), "merged")
	runGolora(t, "merge", "--model=", "--adapter", out, "--out", merged)
	mc, _ := os.ReadFile(filepath.Join(merged, "config.json"))
	if !strings.Contains(string(mc), `"tie_word_embeddings": false`) {
		t.Errorf("merged config should be untied:\n%s", mc)
	}
	if got := evalLoss(t, "--model", merged); math.Abs(got-adapted) > 1e-5 {
		t.Errorf("merged loss %.7f, adapted %.7f (base %.7f)", got, adapted, base)
	}
	args := []string{"--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "16"}
	a := runGolora(t, append([]string{"generate", "--model=", "--adapter", out}, args...)...)
	b := runGolora(t, append([]string{"generate", "--model", merged, "--adapter="}, args...)...)
	if a != b {
		t.Errorf("generate on the merged folder:\n%q\nwith the adapter:\n%q", b, a)
	}
}

// TestMergeRefusesBottleneck: a lora+adapter run cannot be merged whole;
// --lora-only writes the LoRA part and names what it leaves out.
func TestMergeRefusesBottleneck(t *testing.T) {
	out := t.TempDir()
	runGolora(t, "train", "--method", "lora+adapter", "--steps", "2", "--seq-len", "32", "--batch", "2", "--eval-every", "0", "--out", out)
	merged := filepath.Join(t.TempDir(), "merged")
	msg, err := runGoloraErr("merge", "--model=", "--adapter", out, "--out", merged)
	if err == nil || !strings.Contains(err.Error(), "cannot be merged") || !strings.Contains(err.Error(), "default.adapter") {
		t.Fatalf("merge of a lora+adapter run: err %v, output %q", err, msg)
	}
	if _, err := os.Stat(filepath.Join(merged, "model.safetensors")); err == nil {
		t.Error("a refused merge wrote a model")
	}
	msg, err = runGoloraErr("merge", "--model=", "--adapter", out, "--out", merged, "--lora-only")
	if err != nil || !strings.Contains(msg, "leaves out bottleneck adapter(s) [default.adapter]") {
		t.Fatalf("merge --lora-only: err %v, output %q", err, msg)
	}
}

// TestTrainUnknownTarget: --targets q,x must not silently drop x.
func TestTrainUnknownTarget(t *testing.T) {
	_, err := runGoloraErr("train", "--targets", "q,x", "--steps", "1", "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `target module "x" matches no module`) {
		t.Fatalf("err %v", err)
	}
}

// TestTrainLoraBias: --lora-bias trains lora_B.bias; merging refuses it
// where the base layer has no bias (the embedded model has none), naming
// the layer, and writes nothing.
func TestTrainLoraBias(t *testing.T) {
	out := t.TempDir()
	runGolora(t, "train", "--steps", "2", "--seq-len", "32", "--batch", "2", "--eval-every", "0", "--lora-bias", "--out", out)
	f, err := safetensors.Open(filepath.Join(out, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Info("base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias"); !ok {
		t.Errorf("adapter lacks lora_B.bias: %v", f.Names())
	}
	f.Close()
	merged := filepath.Join(t.TempDir(), "m")
	_, err = runGoloraErr("merge", "--model=", "--adapter", out, "--out", merged)
	if err == nil || !strings.Contains(err.Error(), "lora_bias on model.layers.0.self_attn.q_proj") || !strings.Contains(err.Error(), "no bias") {
		t.Fatalf("merge: %v", err)
	}
	if _, err := os.Stat(merged); err == nil {
		t.Error("a refused merge wrote its folder")
	}
}

// TestTrainEmbeddingLoRA: embed_tokens in --targets trains LoRA on the
// embedding of the embedded (tied) model; merge unties it so the merged
// folder gives the adapter's loss.
func TestTrainEmbeddingLoRA(t *testing.T) {
	out := t.TempDir()
	runGolora(t, "train", "--steps", "3", "--seq-len", "32", "--batch", "2", "--lr", "0.01", "--eval-every", "0",
		"--targets", "q,embed_tokens", "--out", out)
	f, err := safetensors.Open(filepath.Join(out, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"base_model.model.model.embed_tokens.lora_embedding_A", "base_model.model.model.embed_tokens.lora_embedding_B", "base_model.model.model.embed_tokens.base_layer.weight"} {
		if _, ok := f.Info(k); !ok {
			t.Errorf("adapter lacks %s: %v", k, f.Names())
		}
	}
	f.Close()
	adapted := evalLoss(t, "--model=", "--adapter", out)
	merged := filepath.Join(t.TempDir(), "merged")
	runGolora(t, "merge", "--model=", "--adapter", out, "--out", merged)
	if got := evalLoss(t, "--model", merged); math.Abs(got-adapted) > 1e-5 {
		t.Errorf("merged loss %.7f, adapted %.7f", got, adapted)
	}
}
