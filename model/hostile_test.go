package model

import (
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// savedTiny writes a random tiny Llama as a Hugging Face folder.
func savedTiny(t *testing.T) string {
	t.Helper()
	m, err := NewRandom(tinyConfigs()["llama-gqa"], 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.SaveHF(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNonFiniteBaseRefused is issue 12's repro 5 for base models: NaN or
// Inf in a weight is a load error naming the tensor, not a model that
// generates token 0 forever.
func TestNonFiniteBaseRefused(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		dir := savedTiny(t)
		path := filepath.Join(dir, "model.safetensors")
		f, err := safetensors.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ts := map[string]*tensor.Tensor{}
		for _, n := range f.Names() {
			ts[n], _ = f.Tensor(n)
		}
		f.Close()
		const victim = "model.layers.1.self_attn.v_proj.weight"
		ts[victim].Data[7] = bad
		if err := safetensors.Write(path, ts, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), victim) {
			t.Errorf("weight %v: %v, want an error naming %s", bad, err, victim)
		}
	}
}

// TestRoPESizedByUse is repro 3's RoPE half: max_position_embeddings of
// 2^25 no longer builds 2^25-position tables up front.
func TestRoPESizedByUse(t *testing.T) {
	cfg := *tinyConfigs()["llama-gqa"]
	cfg.MaxPositionEmbeddings = 1 << 25
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	m, err := NewRandom(&cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	if grew := ms.TotalAlloc - before; grew > 32<<20 {
		t.Errorf("a 2^25-position config allocated %d MB", grew>>20)
	}
	// Positions past the first tables still work (they grow on demand).
	ids := make([]int, 3000)
	for i := range ids {
		ids[i] = i % 61
	}
	for _, v := range m.Forward(ids, 1, len(ids))[len(ids)*61-61:] {
		if math.IsNaN(float64(v)) {
			t.Fatal("NaN logits past the initial tables")
		}
	}
}
