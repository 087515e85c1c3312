package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/lora"
)

// TestExportGGUF: the embedded model exported as GGUF generates the same
// greedy text as the model itself; exported merged with an adapter it
// generates what --adapter does; and the --lora-only adapter GGUF applied
// the way llama.cpp applies it (W + alpha/r·B·A on the GGUF base tensors,
// with r read from lora_a) reproduces the merged file's tensors.
func TestExportGGUF(t *testing.T) {
	cfg := lora.DefaultConfig()
	cfg.TargetModules = lora.List("q_proj", "k_proj", "v_proj", "down_proj")
	cfg.RankPattern = lora.Pattern{{Key: "down_proj", Value: 4}} // a per-module scale llama.cpp cannot express directly
	_, adapter := savedLoRA(t, cfg)
	dir := t.TempDir()
	base, merged, only := filepath.Join(dir, "base.gguf"), filepath.Join(dir, "merged.gguf"), filepath.Join(dir, "lora.gguf")
	runGolora(t, "export", "gguf", "--model=", "--out", base)
	runGolora(t, "export", "gguf", "--model=", "--adapter", adapter, "--out", merged)
	runGolora(t, "export", "gguf", "--model=", "--adapter", adapter, "--lora-only", "--out", only)

	sameGenerate(t, 32, []string{"--model="}, []string{"--model", base})
	sameGenerate(t, 32, []string{"--model=", "--adapter", adapter}, []string{"--model", merged})
	if out := runGolora(t, "inspect", merged); !strings.Contains(out, "gguf") || !strings.Contains(out, "blk.0.attn_q.weight") {
		t.Errorf("inspect output:\n%s", out)
	}

	open := func(p string) *gguf.File {
		f, err := gguf.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	fb, fm, fa := open(base), open(merged), open(only)
	for k, want := range map[string]any{"general.type": "adapter", "adapter.type": "lora", "general.architecture": "llama", "adapter.lora.alpha": float32(8)} {
		if v, _ := fa.Get(k); v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if len(fa.Tensors) != 2*5*4 {
		t.Errorf("%d adapter tensors, want %d", len(fa.Tensors), 2*5*4)
	}
	alpha, _ := fa.Float("adapter.lora.alpha")
	for _, ti := range fa.Tensors {
		name, ok := strings.CutSuffix(ti.Name, ".lora_a")
		if !ok {
			continue
		}
		A, _ := fa.Float32(name + ".lora_a")
		B, _ := fa.Float32(name + ".lora_b")
		W0, _ := fb.Float32(name)
		W1, _ := fm.Float32(name)
		r, in := A.Shape[0], A.Shape[1]
		out := B.Shape[0]
		if B.Shape[1] != r || W0.Shape[0] != out || W0.Shape[1] != in {
			t.Fatalf("%s: shapes A %v B %v W %v", name, A.Shape, B.Shape, W0.Shape)
		}
		s := alpha / float64(r)
		var worst float64
		for i := 0; i < out; i++ {
			for j := 0; j < in; j++ {
				var d float64
				for k := 0; k < r; k++ {
					d += float64(B.Data[i*r+k]) * float64(A.Data[k*in+j])
				}
				worst = math.Max(worst, math.Abs(float64(W0.Data[i*in+j])+s*d-float64(W1.Data[i*in+j])))
			}
		}
		if worst > 1e-5 {
			t.Errorf("%s: base + alpha/r·B·A differs from the merged tensor by %g", name, worst)
		}
	}
}

func TestExportGGUFErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "gguf"}, "--out"},
		{[]string{"export", "gguf", "--out", "x.gguf", "--type", "q6_k"}, "--type"},
		{[]string{"export", "gguf", "--out", "x.gguf", "--lora-only"}, "--adapter"},
	} {
		resetFlags()
		if _, err := runGoloraErr(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v", c.args, err)
		}
	}
}
