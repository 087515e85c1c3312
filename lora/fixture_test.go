package lora

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

var adapterFixtures = []string{"lora-tiny-gpt2", "lora-tiny-llama", "lora-tiny-qwen2", "lora-tiny-llama-rslora", "lora-tiny-llama-init"}

// conv1dModule reports GPT-2's Conv1D layers, stored [in, out].
func conv1dModule(name string) bool {
	for _, s := range []string{".c_attn", ".c_proj", ".c_fc"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// fixtureTargets reads a fixture base model's linear layers (without the
// model package): every 2-D weight of a projection, Conv1D ones transposed
// to [out, in].
func fixtureTargets(t *testing.T, base string) ([]Target, int) {
	t.Helper()
	path := testutil.Shared(t, "fixtures", base, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []Target
	total := 0
	names := f.Names()
	sort.Strings(names)
	for _, n := range names {
		w, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		total += w.Len()
		mod, ok := strings.CutSuffix(n, ".weight")
		if !ok || len(w.Shape) != 2 || strings.Contains(n, "embed") || strings.Contains(n, "wte") || strings.Contains(n, "wpe") {
			continue
		}
		l := &nn.Linear{}
		if conv1dModule(mod) {
			in, out := w.Shape[0], w.Shape[1]
			tw := tensor.New(out, in)
			for i := 0; i < in; i++ {
				for o := 0; o < out; o++ {
					tw.Data[o*in+i] = w.Data[i*out+o]
				}
			}
			w = tw
		}
		l.W = w
		if b, err := f.Tensor(mod + ".bias"); err == nil {
			l.B = b
		}
		ts = append(ts, Target{Name: mod, L: l, Head: mod == "lm_head", Conv1D: conv1dModule(mod)})
	}
	return ts, total
}

func baseOf(t *testing.T, fixture string) string {
	cfg, err := ReadConfig(testutil.Shared(t, "fixtures", fixture, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.BaseModelNameOrPath
}

type refModule struct {
	In, Out, R int
	Alpha      float64 `json:"lora_alpha"`
	Scaling    float64
}

func readReference(t *testing.T, fixture string) map[string]refModule {
	var ref struct {
		Modules map[string]struct {
			In      int     `json:"in_features"`
			Out     int     `json:"out_features"`
			R       int     `json:"r"`
			Alpha   float64 `json:"lora_alpha"`
			Scaling float64 `json:"scaling"`
		} `json:"modules"`
	}
	data, err := os.ReadFile(testutil.Shared(t, "fixtures", fixture, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	out := map[string]refModule{}
	for k, v := range ref.Modules {
		out[k] = refModule{In: v.In, Out: v.Out, R: v.R, Alpha: v.Alpha, Scaling: v.Scaling}
	}
	return out
}

// TestPEFTFixtures loads every PEFT adapter fixture onto its base, checks
// targeting, ranks and scalings against reference.json, writes it back with
// the same keys, shapes, bits and config bytes, and merges it to the
// fixture's merged weights.
func TestPEFTFixtures(t *testing.T) {
	for _, fx := range adapterFixtures {
		t.Run(fx, func(t *testing.T) {
			dir := testutil.Shared(t, "fixtures", fx)
			targets, total := fixtureTargets(t, baseOf(t, fx))
			m := New(targets, total)
			if err := m.Load(dir, DefaultName); err != nil {
				t.Fatal(err)
			}
			ref := readReference(t, fx)
			var got []string
			for _, s := range m.Layers() {
				a := s.Adapter(DefaultName)
				got = append(got, s.Module)
				r, ok := ref[s.Module]
				if !ok {
					t.Errorf("%s: targeted but not in reference.json", s.Module)
					continue
				}
				if a.R() != r.R || a.In() != r.In || a.Out() != r.Out || a.Alpha != r.Alpha {
					t.Errorf("%s: r %d in %d out %d alpha %g, want %+v", s.Module, a.R(), a.In(), a.Out(), a.Alpha, r)
				}
				if d := float64(a.Scaling) - r.Scaling; d > 1e-6*r.Scaling || d < -1e-6*r.Scaling {
					t.Errorf("%s: scaling %g, want %g", s.Module, a.Scaling, r.Scaling)
				}
				if c := m.Config(DefaultName).Scaling(s.Module); c != r.Scaling {
					t.Errorf("%s: Config.Scaling %g, want %g", s.Module, c, r.Scaling)
				}
			}
			if len(got) != len(ref) {
				t.Errorf("targeted %d modules, reference has %d", len(got), len(ref))
			}

			// Write back: same config bytes, same keys, shapes and bits.
			out := t.TempDir()
			if err := m.Save(out); err != nil {
				t.Fatal(err)
			}
			wantCfg, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
			gotCfg, _ := os.ReadFile(filepath.Join(out, ConfigFile))
			if strings.TrimSpace(string(wantCfg)) != strings.TrimSpace(string(gotCfg)) {
				t.Errorf("adapter_config.json differs from PEFT's:\n%s\nwant\n%s", gotCfg, wantCfg)
			}
			sameTensors(t, filepath.Join(dir, WeightsFile), filepath.Join(out, WeightsFile))

			// Merge against the fixture's merged model.
			mergedPath := filepath.Join(dir, "merged", "model.safetensors")
			if _, err := os.Stat(mergedPath); err != nil {
				return
			}
			if err := m.Merge(true); err != nil {
				t.Fatal(err)
			}
			mf, err := safetensors.Open(mergedPath)
			if err != nil {
				t.Fatal(err)
			}
			defer mf.Close()
			for _, s := range m.Layers() {
				w, err := mf.Tensor(s.Module + ".weight")
				if err != nil {
					t.Fatal(err)
				}
				got := s.Linear.W.Data
				if s.Conv1D { // compare in the file's [in, out] layout
					got = testutil.Transpose(got, s.Linear.Out(), s.Linear.In())
				}
				testutil.GradClose(t, s.Module+" merged", got, testutil.To64(w.Data), 1e-6, 0)
			}
		})
	}
}

// sameTensors checks two safetensors files hold the same names, shapes,
// float32 bits and metadata.
func sameTensors(t *testing.T, wantPath, gotPath string) {
	t.Helper()
	wf, err := safetensors.Open(wantPath)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	gf, err := safetensors.Open(gotPath)
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	wn, gn := wf.Names(), gf.Names()
	sort.Strings(wn)
	sort.Strings(gn)
	if strings.Join(wn, ",") != strings.Join(gn, ",") {
		t.Fatalf("keys differ:\n got %v\nwant %v", gn, wn)
	}
	if gf.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v, want format pt", gf.Metadata())
	}
	for _, n := range wn {
		a, _ := wf.Tensor(n)
		b, _ := gf.Tensor(n)
		if !tensor.SameShape(a.Shape, b.Shape) {
			t.Errorf("%s: shape %v, want %v", n, b.Shape, a.Shape)
			continue
		}
		for i := range a.Data {
			if a.Data[i] != b.Data[i] {
				t.Errorf("%s[%d]: %g, want %g", n, i, b.Data[i], a.Data[i])
				break
			}
		}
	}
}

func TestLoadShapeMismatch(t *testing.T) {
	dir := testutil.Shared(t, "fixtures", "lora-tiny-llama")
	// A base whose v_proj is wider than the adapter's.
	targets, total := fixtureTargets(t, "tiny-llama")
	for i, tg := range targets {
		if tg.Name == "model.layers.0.self_attn.v_proj" {
			targets[i].L = &nn.Linear{W: tensor.New(40, 64)}
		}
	}
	m := New(targets, total)
	err := m.Load(dir, DefaultName)
	if err == nil {
		t.Fatal("loading onto a mismatched base succeeded")
	}
	want := "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight has shape [32 4], the base model needs [40 4]"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), WeightsFile) {
		t.Errorf("error %q does not name the first mismatch %q", err, want)
	}
	if len(m.Names()) != 0 || len(m.Layers()) != 0 {
		t.Errorf("failed load left adapters behind: %v", m.Names())
	}
	for _, tg := range targets {
		if tg.L.Delta != nil {
			t.Errorf("%s: delta left installed", tg.Name)
		}
	}
}
