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
	sameGenerate(t, 16, []string{"--model=", "--adapter", out}, []string{"--model", merged, "--adapter="})
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

// TestPEFTFeatureFixturesCLI: golora eval --adapter reproduces the
// reference loss of each feature fixture in lora/testdata/peft, and golora
// merge writes its merged tensors.
func TestPEFTFeatureFixturesCLI(t *testing.T) {
	root := filepath.Join("..", "..", "lora", "testdata", "peft")
	for _, name := range []string{"mts-llama", "mts-qwen2", "emb-llama", "emb-qwen2", "bias-qwen2", "tokens-llama", "tokens-qwen2", "tokens-dict-llama"} {
		t.Run(name, func(t *testing.T) {
			adapter := filepath.Join(root, name)
			var cfg struct {
				Base string `json:"base_model_name_or_path"`
			}
			raw, _ := os.ReadFile(filepath.Join(adapter, "adapter_config.json"))
			json.Unmarshal(raw, &cfg)
			base := filepath.Join(root, cfg.Base)
			var ref struct {
				Loss       float64  `json:"loss"`
				MergedLoss float64  `json:"merged_loss"`
				Changed    []string `json:"merged_changed"`
			}
			raw, _ = os.ReadFile(filepath.Join(adapter, "reference.json"))
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			var in struct {
				IDs [][]int `json:"input_ids"`
			}
			raw, _ = os.ReadFile(filepath.Join(base, "inputs.json"))
			json.Unmarshal(raw, &in)
			var jsonl bytes.Buffer
			for _, row := range in.IDs {
				line, _ := json.Marshal(map[string][]int{"input_ids": row})
				jsonl.Write(append(line, '\n'))
			}
			data := filepath.Join(t.TempDir(), "in.jsonl")
			os.WriteFile(data, jsonl.Bytes(), 0o644)
			var res struct {
				Loss float64 `json:"loss"`
			}
			out := runGolora(t, "eval", "--json", "--model", base, "--adapter", adapter, "--data", data)
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.Loss-ref.Loss) > 1e-6 {
				t.Errorf("eval --adapter loss %.9f, reference %.9f", res.Loss, ref.Loss)
			}
			merged := filepath.Join(t.TempDir(), "merged")
			runGolora(t, "merge", "--model", base, "--adapter", adapter, "--out", merged)
			got, err := safetensors.Open(filepath.Join(merged, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			want, err := safetensors.Open(filepath.Join(adapter, "merged.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			for _, n := range ref.Changed {
				a, _ := want.Tensor(n)
				b, err := got.Tensor(n)
				if err != nil {
					t.Fatalf("merged model lacks %s: %v", n, err)
				}
				for i := range a.Data {
					if d := math.Abs(float64(a.Data[i] - b.Data[i])); d > 1e-6 {
						t.Fatalf("merged %s[%d] differs by %g", n, i, d)
					}
				}
			}
			out = runGolora(t, "eval", "--json", "--model", merged, "--data", data)
			json.Unmarshal([]byte(out), &res)
			if math.Abs(res.Loss-ref.MergedLoss) > 1e-6 {
				t.Errorf("merged model loss %.9f, reference %.9f", res.Loss, ref.MergedLoss)
			}
		})
	}
}

// TestAdapterBaseWarning: an adapter recorded for another base loads, with
// a warning naming both models.
func TestAdapterBaseWarning(t *testing.T) {
	root := filepath.Join("..", "..", "lora", "testdata", "peft")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	data := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(data, []byte(`{"input_ids": [1, 2, 3, 4, 5]}`+"\n"), 0o644)
	_, err = runGoloraErr("eval", "--model", filepath.Join(root, "tiny-qwen2"), "--adapter", filepath.Join(root, "tokens-llama"), "--data", data)
	os.Stderr = stderr
	w.Close()
	var buf bytes.Buffer
	buf.ReadFrom(r)
	if err != nil {
		t.Fatal(err)
	}
	if msg := buf.String(); !strings.Contains(msg, `"tiny-llama"`) || !strings.Contains(msg, "tiny-qwen2") {
		t.Errorf("stderr %q: want a warning naming both models", msg)
	}
}

// TestTrainTrainableTokens: --trainable-tokens trains those embedding rows
// (the embedded model's head is tied, so it uses them too); merge keeps
// the model tied and gives the adapter's loss.
func TestTrainTrainableTokens(t *testing.T) {
	out := t.TempDir()
	runGolora(t, "train", "--steps", "3", "--seq-len", "32", "--batch", "2", "--lr", "0.05", "--eval-every", "0",
		"--trainable-tokens", "261,403,407", "--out", out)
	cfg, _ := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	if !strings.Contains(string(cfg), `"trainable_token_indices": [`) {
		t.Errorf("adapter_config.json lacks trainable_token_indices:\n%s", cfg)
	}
	f, err := safetensors.Open(filepath.Join(out, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if info, ok := f.Info("base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"); !ok || info.Shape[0] != 3 {
		t.Errorf("adapter lacks the 3 trained rows: %v", f.Names())
	}
	f.Close()
	adapted := evalLoss(t, "--model=", "--adapter", out)
	merged := filepath.Join(t.TempDir(), "merged")
	runGolora(t, "merge", "--model=", "--adapter", out, "--out", merged)
	mc, _ := os.ReadFile(filepath.Join(merged, "config.json"))
	if strings.Contains(string(mc), `"tie_word_embeddings": false`) {
		t.Errorf("trainable tokens change both tied sides alike; the merge should stay tied:\n%s", mc)
	}
	if got := evalLoss(t, "--model", merged); math.Abs(got-adapted) > 1e-5 {
		t.Errorf("merged loss %.7f, adapted %.7f", got, adapted)
	}
}
