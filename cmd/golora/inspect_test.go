package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tensor"
)

func TestInspectPath(t *testing.T) {
	// GPT-2 parameter count from the config alone: wte, wpe, ln_f and per
	// block ln_1, ln_2, c_attn, attn c_proj, c_fc, mlp c_proj (weights+biases).
	gpt2Params := func(V, P, E, L int) int64 {
		block := 4*E + (E*3*E + 3*E) + (E*E + E) + (E*4*E + 4*E) + (4*E*E + E)
		return int64(V*E + P*E + 2*E + L*block)
	}
	// Llama: embed, final norm, optional head, per layer 2 norms, q/k/v/o, 3 MLP.
	llamaParams := func(V, H, I, L, kv int, tied bool) int64 {
		n := V*H + H + L*(2*H+H*H+2*kv*H+H*H+3*H*I)
		if !tied {
			n += V * H
		}
		return int64(n)
	}
	tests := []struct {
		name    string
		path    []string
		kind    string
		arch    *archSummary // checked field by field where non-zero
		params  int64
		tensors int
		adapter *adapterSummary
		extra   bool // only in the optional ../shared (testutil.Extra)
	}{
		{
			name: "HF transformers GPT-2 folder", path: []string{"models", "tiny-random-gpt2"}, kind: "model",
			arch:   &archSummary{ModelType: "gpt2", HiddenSize: 32, NumLayers: 5, NumHeads: 4, NumKVHeads: 4, IntermediateSize: 128, VocabSize: 1000, MaxPositions: 512, TieWordEmbeddings: true},
			params: gpt2Params(1000, 512, 32, 5), tensors: 64,
		},
		{
			name: "fixture tiny-llama", path: []string{"fixtures", "tiny-llama"}, kind: "model",
			arch:   &archSummary{ModelType: "llama", HiddenSize: 64, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 16, IntermediateSize: 96, VocabSize: 101},
			params: llamaParams(101, 64, 96, 2, 32, false), tensors: 3 + 2*9,
		},
		{
			name: "bf16 HF llama", path: []string{"models", "tiny-llama-random-hf"}, kind: "model", extra: true,
			arch:   &archSummary{ModelType: "llama", HiddenSize: 64, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, IntermediateSize: 176, VocabSize: 512},
			params: llamaParams(512, 64, 176, 2, 32, false), tensors: 21,
		},
		{
			name: "llama2.c checkpoint", path: []string{"models", "stories260K", "stories260K.bin"}, kind: "llama2c",
			arch:   &archSummary{ModelType: "llama", HiddenSize: 64, NumLayers: 5, NumHeads: 8, NumKVHeads: 4, IntermediateSize: 172, VocabSize: 512, TieWordEmbeddings: true},
			params: 260032, tensors: 2 + 5*9,
		},
		{
			name: "single safetensors file", path: []string{"fixtures", "tiny-gpt2", "model.bf16.safetensors"}, kind: "safetensors",
			params: gpt2Params(97, 64, 48, 2), tensors: 4 + 2*12,
		},
		{
			name: "PEFT adapter", path: []string{"fixtures", "lora-tiny-llama"}, kind: "adapter",
			// q_proj: A [4,64] + B [64,4]; v_proj: A [4,64] + B [32,4]; 2 layers.
			params: 2 * (4*64 + 64*4 + 4*64 + 32*4), tensors: 8,
			adapter: &adapterSummary{R: 4, LoraAlpha: 8, Scaling: 2, Modules: 4, Trainable: 2 * (4*64 + 64*4 + 4*64 + 32*4),
				TargetModules: []any{"q_proj", "v_proj"}},
		},
		{
			name: "PEFT adapter, all projections", path: []string{"fixtures", "lora-tiny-qwen2"}, kind: "adapter",
			params: 2 * (4*(64+64) + 4*(64+32)*2 + 4*(64+64) + 4*(64+96)*2 + 4*(96+64)), tensors: 2 * 7 * 2,
			adapter: &adapterSummary{R: 4, LoraAlpha: 8, Scaling: 2, Modules: 14,
				Trainable: 2 * (4*(64+64) + 4*(64+32)*2 + 4*(64+64) + 4*(64+96)*2 + 4*(96+64))},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := testutil.Shared
			if tc.extra {
				path = testutil.Extra
			}
			rep, err := inspectPath(path(t, tc.path...))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != tc.kind || rep.Parameters != tc.params || rep.NumTensors != tc.tensors || len(rep.Tensors) != tc.tensors {
				t.Errorf("kind %s params %d tensors %d, want %s %d %d", rep.Kind, rep.Parameters, rep.NumTensors, tc.kind, tc.params, tc.tensors)
			}
			var sum int64
			for _, n := range rep.DTypes {
				sum += n
			}
			if sum != rep.Parameters {
				t.Errorf("dtype breakdown sums to %d, not %d", sum, rep.Parameters)
			}
			if a := tc.arch; a != nil {
				g := rep.Architecture
				if g == nil {
					t.Fatal("no architecture")
				}
				checks := []struct {
					name      string
					got, want any
				}{
					{"model_type", g.ModelType, a.ModelType}, {"hidden", g.HiddenSize, a.HiddenSize},
					{"layers", g.NumLayers, a.NumLayers}, {"heads", g.NumHeads, a.NumHeads},
					{"kv heads", g.NumKVHeads, a.NumKVHeads}, {"intermediate", g.IntermediateSize, a.IntermediateSize},
					{"vocab", g.VocabSize, a.VocabSize},
				}
				for _, c := range checks {
					if c.got != c.want {
						t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
					}
				}
				if a.HeadDim != 0 && g.HeadDim != a.HeadDim {
					t.Errorf("head dim %d, want %d", g.HeadDim, a.HeadDim)
				}
				if a.MaxPositions != 0 && g.MaxPositions != a.MaxPositions {
					t.Errorf("max positions %d, want %d", g.MaxPositions, a.MaxPositions)
				}
				if a.TieWordEmbeddings && !g.TieWordEmbeddings {
					t.Error("tied embeddings not reported")
				}
			}
			if a := tc.adapter; a != nil {
				g := rep.Adapter
				if g == nil || g.R != a.R || g.LoraAlpha != a.LoraAlpha || g.Scaling != a.Scaling || g.Modules != a.Modules || g.Trainable != a.Trainable {
					t.Errorf("adapter %+v, want %+v", g, a)
				}
				if a.TargetModules != nil && !reflect.DeepEqual(g.TargetModules, a.TargetModules) {
					t.Errorf("target modules %v, want %v", g.TargetModules, a.TargetModules)
				}
			}
			var buf bytes.Buffer
			if err := rep.print(&buf, true); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), inspectCommas(tc.params)) || !strings.Contains(buf.String(), rep.Tensors[0].Name) {
				t.Errorf("text output lacks the parameter count or tensors:\n%s", buf.String())
			}
		})
	}
}

func TestInspectSharded(t *testing.T) {
	dir := t.TempDir()
	a := map[string]*tensor.Tensor{"a": tensor.New(2, 3)}
	b := map[string]*tensor.Tensor{"b": tensor.New(5)}
	safetensors.Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), a, nil)
	safetensors.Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), b, nil)
	idx := `{"metadata":{"total_size":44},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`
	os.WriteFile(filepath.Join(dir, safetensors.IndexFile), []byte(idx), 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama","hidden_size":3,"num_hidden_layers":1}`), 0o644)
	rep, err := inspectPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Parameters != 11 || len(rep.Files) != 2 || rep.Architecture.HiddenSize != 3 {
		t.Errorf("report %+v", rep)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	bad := map[string]string{
		"garbage.bin":           "not a model at all, just text",
		"trunc.safetensors":     "\x10\x00\x00\x00\x00\x00\x00\x00{}",
		"cfg/config.json":       `{"model_type": "llama"`,
		"cfg/model.safetensors": "",
	}
	for name, content := range bad {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	for _, p := range []string{"garbage.bin", "trunc.safetensors", "cfg", "missing"} {
		if _, err := inspectPath(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

// TestInspectCommand runs the cobra command itself, in process.
func TestInspectCommand(t *testing.T) {
	path := testutil.Shared(t, "models", "tiny-random-gpt2")
	for _, args := range [][]string{{"inspect", path}, {"inspect", "--json", path}} {
		var out bytes.Buffer
		rootCmd.SetOut(&out)
		resetFlags()
		rootCmd.SetArgs(args)
		err := rootCmd.Execute()
		inspectFlags.json = false
		rootCmd.SetOut(nil)
		rootCmd.SetArgs(nil)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if args[1] == "--json" {
			var rep inspectReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("--json output does not parse: %v", err)
			}
			if rep.Architecture.ModelType != "gpt2" || rep.Parameters != 111968 {
				t.Errorf("--json: %+v", rep.Architecture)
			}
		} else if !strings.Contains(out.String(), "gpt2") || !strings.Contains(out.String(), "111,968") {
			t.Errorf("output:\n%s", out.String())
		}
	}
}

// TestInspectAdapterUnknownKeys: a key from a newer PEFT is reported, not
// fatal (PEFT's own loader ignores such keys too).
func TestInspectAdapterUnknownKeys(t *testing.T) {
	src := testutil.Shared(t, "fixtures", "lora-tiny-llama")
	dir := t.TempDir()
	var cfg map[string]any
	raw, err := os.ReadFile(filepath.Join(src, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["future_option"] = 3
	raw, _ = json.Marshal(cfg)
	weights, _ := os.ReadFile(filepath.Join(src, "adapter_model.safetensors"))
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), weights, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := inspectPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ws := rep.Adapter.Warnings; len(ws) != 1 || !strings.Contains(ws[0], "future_option") {
		t.Errorf("warnings %q, want one naming future_option", ws)
	}
}
