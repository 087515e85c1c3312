package lora

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

// TestHostileAdapters is issue 12's repros 3 and 5 for adapter files: a
// rank of 1e12 in adapter_config.json is an error before anything is
// allocated, lora_alpha 1e308 (a scaling past float32) is refused, and NaN
// or Inf in adapter weights is an error naming the tensor.
func TestHostileAdapters(t *testing.T) {
	ts := toyTargets(4)
	m := New(ts, 0)
	if err := m.Add("default", allLinear(nil), "gaussian", 1); err != nil {
		t.Fatal(err)
	}
	good := t.TempDir()
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	cfgJSON, _ := os.ReadFile(filepath.Join(good, ConfigFile))
	withConfig := func(t *testing.T, from, to string) string {
		dir := t.TempDir()
		os.CopyFS(dir, os.DirFS(good))
		s := strings.Replace(string(cfgJSON), from, to, 1)
		if s == string(cfgJSON) {
			t.Fatalf("%q not in adapter_config.json", from)
		}
		os.WriteFile(filepath.Join(dir, ConfigFile), []byte(s), 0o644)
		return dir
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	err := New(toyTargets(4), 0).Load(withConfig(t, `"r": 4`, `"r": 1000000000000`), "x")
	runtime.ReadMemStats(&ms)
	if err == nil || !strings.Contains(err.Error(), "lower r") {
		t.Errorf("r 1e12: %v", err)
	}
	if grew := ms.TotalAlloc - before; grew > 64<<20 {
		t.Errorf("r 1e12 allocated %d MB before failing", grew>>20)
	}
	if err := New(toyTargets(4), 0).Load(withConfig(t, `"lora_alpha": 8`, `"lora_alpha": 1e308`), "x"); err == nil || !strings.Contains(err.Error(), "lora_alpha") {
		t.Errorf("lora_alpha 1e308: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"alpha_pattern": {"q": 1e300}}`)); err == nil {
		t.Error("alpha_pattern 1e300 accepted")
	}

	// NaN / Inf weights.
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		dir := t.TempDir()
		os.CopyFS(dir, os.DirFS(good))
		f, err := safetensors.Open(filepath.Join(good, WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		tensors := map[string]*tensor.Tensor{}
		var victim string
		for _, n := range f.Names() {
			tensors[n], _ = f.Tensor(n)
			if strings.Contains(n, "layers.1.mlp.up_proj.lora_B") {
				victim = n
			}
		}
		f.Close()
		tensors[victim].Data[3] = bad
		if err := safetensors.Write(filepath.Join(dir, WeightsFile), tensors, nil); err != nil {
			t.Fatal(err)
		}
		err = New(toyTargets(4), 0).Load(dir, "x")
		if err == nil || !strings.Contains(err.Error(), victim) {
			t.Errorf("weight %v: %v, want an error naming %s", bad, err, victim)
		}
	}
	// --r 1000000 on a model: refused before allocating.
	if err := New(toyTargets(4), 0).Add("big", allLinear(func(c *Config) { c.R = 1000000 }), "gaussian", 1); err == nil || !strings.Contains(err.Error(), "--r") {
		t.Errorf("r 1e6: %v", err)
	}
}
