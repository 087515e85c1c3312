package lora

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// toyTargets is a small model's linear layers named like Llama's.
func toyTargets(seed uint64) []Target {
	rng := testutil.NewRand(seed)
	var ts []Target
	for l := 0; l < 2; l++ {
		for _, p := range []struct {
			name    string
			out, in int
		}{{"self_attn.q_proj", 16, 16}, {"self_attn.v_proj", 8, 16}, {"mlp.up_proj", 24, 16}, {"mlp.down_proj", 16, 24}} {
			ts = append(ts, Target{Name: fmt.Sprintf("model.layers.%d.%s", l, p.name), L: newLinear(rng, p.out, p.in, p.name == "self_attn.q_proj")})
		}
	}
	ts = append(ts, Target{Name: "lm_head", L: newLinear(rng, 20, 16, false), Head: true})
	return ts
}

func baseParams(ts []Target) int {
	n := 0
	for _, t := range ts {
		n += t.L.W.Len()
		if t.L.B != nil {
			n += t.L.B.Len()
		}
	}
	return n
}

const rows = 5

// outputs runs every target on the same seeded input.
func outputs(ts []Target) [][]float32 {
	var ys [][]float32
	for i, t := range ts {
		x := testutil.RandN(testutil.NewRand(uint64(100+i)), rows*t.L.In(), 1)
		y := make([]float32, rows*t.L.Out())
		t.L.Forward(x, y, rows)
		ys = append(ys, y)
	}
	return ys
}

func maxRelDiff(a, b [][]float32) float64 {
	worst := 0.0
	for i := range a {
		d := testutil.Compare(a[i], testutil.To64(b[i]), 0, 0)
		worst = max(worst, d.MaxAbs/max(testutil.MaxAbs(b[i]), 1e-30))
	}
	return worst
}

func allLinear(mod func(*Config)) *Config {
	c := DefaultConfig()
	c.R, c.LoraAlpha, c.TargetModules = 4, 8, Regex("all-linear")
	if mod != nil {
		mod(c)
	}
	return c
}

func TestInitsStartAtBase(t *testing.T) {
	for _, dora := range []bool{false, true} {
		for _, init := range Inits() {
			t.Run(fmt.Sprintf("%s/dora=%v", init, dora), func(t *testing.T) {
				ts := toyTargets(1)
				base := outputs(ts)
				m := New(ts, baseParams(ts))
				if err := m.Add("default", allLinear(func(c *Config) { c.UseDoRA = dora }), init, 9); err != nil {
					t.Fatal(err)
				}
				if ts[len(ts)-1].L.Delta != nil {
					t.Error("all-linear put an adapter on the output head")
				}
				got := outputs(ts)
				d := maxRelDiff(got, base)
				switch init {
				case "false":
					if d < 1e-3 {
						t.Errorf("init false should move the outputs, max rel diff %g", d)
					}
				case "pissa", "olora": // the residual is rounded to float32
					if d > 1e-5 {
						t.Errorf("max rel diff from base %g, want <= 1e-5", d)
					}
				default:
					if d != 0 {
						t.Errorf("outputs differ from the base by %g, want exactly 0", d)
					}
				}
			})
		}
	}
}

func TestPiSSAIsTopSVD(t *testing.T) {
	ts := toyTargets(2)
	w0 := ts[0].L.W.Clone()
	m := New(ts, 0)
	if err := m.Add("default", allLinear(nil), "pissa", 1); err != nil {
		t.Fatal(err)
	}
	a := m.Layer(ts[0].Name).Adapter("default")
	// A = diag(√(S/s))·Vᵀ has orthogonal rows with ‖A_k‖² = S_k/s, decreasing.
	in := a.In()
	prev := math.Inf(1)
	for k := 0; k < a.R(); k++ {
		nk := float64(kernels.Dot(a.A.Data[k*in:(k+1)*in], a.A.Data[k*in:(k+1)*in]))
		if nk > prev*(1+1e-5) {
			t.Errorf("singular values not decreasing at %d: %g > %g", k, nk, prev)
		}
		prev = nk
		for j := k + 1; j < a.R(); j++ {
			if d := kernels.Dot(a.A.Data[k*in:(k+1)*in], a.A.Data[j*in:(j+1)*in]); math.Abs(float64(d)) > 1e-4*nk {
				t.Errorf("rows %d, %d of A not orthogonal: %g", k, j, d)
			}
		}
	}
	// W0 = residual + s·B·A.
	d := a.DeltaWeight(false)
	for i := range w0.Data {
		if e := math.Abs(float64(ts[0].L.W.Data[i] + d.Data[i] - w0.Data[i])); e > 1e-5 {
			t.Fatalf("residual + s·B·A differs from W0 by %g at %d", e, i)
		}
	}
}

func TestActiveDisableDelete(t *testing.T) {
	ts := toyTargets(3)
	base := outputs(ts)
	m := New(ts, baseParams(ts))
	cfg := allLinear(func(c *Config) { c.TargetModules = List("q_proj", "up_proj") })
	if err := m.Add("a", cfg, "false", 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Add("b", cfg, "false", 2); err != nil {
		t.Fatal(err)
	}
	if err := m.Add("a", cfg, "", 3); err == nil {
		t.Error("a duplicate name was accepted")
	}
	if err := m.Add("c", allLinear(func(c *Config) { c.TargetModules = List("nope") }), "", 3); err == nil {
		t.Error("a config matching nothing was accepted")
	}
	if got := m.ActiveNames(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("active %v, want [a] (the first adapter)", got)
	}
	ya := outputs(ts)
	m.SetActive("b")
	yb := outputs(ts)
	m.SetActive("a", "b")
	yab := outputs(ts)
	for i := range base {
		for j := range base[i] {
			want := ya[i][j] + yb[i][j] - base[i][j]
			if math.Abs(float64(yab[i][j]-want)) > 1e-5*(1+math.Abs(float64(want))) {
				t.Fatalf("two active adapters are not the sum of each: %g vs %g", yab[i][j], want)
			}
		}
	}
	m.Disable()
	if d := maxRelDiff(outputs(ts), base); d != 0 {
		t.Errorf("disabled adapters changed the outputs by %g", d)
	}
	m.Enable()
	if err := m.SetActive("zzz"); err == nil {
		t.Error("SetActive of an unknown adapter succeeded")
	}
	if err := m.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(outputs(ts), yb); d != 0 {
		t.Errorf("after deleting a, outputs differ from b alone by %g", d)
	}
	if err := m.Delete("b"); err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.L.Delta != nil {
			t.Errorf("%s keeps a delta after every adapter was deleted", tg.Name)
		}
	}
}

func TestModelMerge(t *testing.T) {
	for _, dora := range []bool{false, true} {
		t.Run(fmt.Sprintf("dora=%v", dora), func(t *testing.T) {
			ts := toyTargets(4)
			var w0 [][]float32
			for _, tg := range ts {
				w0 = append(w0, append([]float32(nil), tg.L.W.Data...))
			}
			m := New(ts, baseParams(ts))
			cfg := allLinear(func(c *Config) { c.UseDoRA = dora })
			m.Add("a", cfg, "false", 1)
			m.Add("b", cfg, "false", 2)
			if !dora {
				// Stacked DoRA adapters each normalise by W0 in the forward
				// but by the already merged weight in a sequential merge, in
				// PEFT as here, so only one is merged.
				m.SetActive("a", "b")
			}
			unmerged := outputs(ts)
			if err := m.Merge(true); err != nil {
				t.Fatal(err)
			}
			if d := maxRelDiff(outputs(ts), unmerged); d > 1e-5 {
				t.Errorf("merged vs unmerged outputs: max rel diff %g > 1e-5", d)
			}
			if err := m.Delete("a"); err == nil {
				t.Error("deleting a merged adapter succeeded")
			}
			m.Unmerge()
			for i, tg := range ts {
				testutil.AllClose(t, tg.Name+" unmerged", tg.L.W.Data, testutil.To64(w0[i]), 0, 1e-6)
			}
			if d := maxRelDiff(outputs(ts), unmerged); d > 1e-5 {
				t.Errorf("unmerged outputs moved by %g", d)
			}
			if err := m.MergeAndUnload(false); err != nil {
				t.Fatal(err)
			}
			for _, tg := range ts {
				if tg.L.Delta != nil {
					t.Errorf("%s: delta left after MergeAndUnload", tg.Name)
				}
			}
			if d := maxRelDiff(outputs(ts), unmerged); d > 1e-5 {
				t.Errorf("merge-and-unload outputs: max rel diff %g", d)
			}
		})
	}
}

func TestSafeMergeRefusesNaN(t *testing.T) {
	ts := toyTargets(5)
	m := New(ts, 0)
	m.Add("default", allLinear(nil), "false", 1)
	w := append([]float32(nil), ts[6].L.W.Data...)
	m.Layer(ts[6].Name).Adapter("default").B.Data[3] = float32(math.Inf(1))
	err := m.Merge(true)
	if err == nil || !strings.Contains(err.Error(), ts[6].Name) {
		t.Fatalf("safe merge of an Inf adapter: err %v, want one naming %s", err, ts[6].Name)
	}
	for i := range w {
		if ts[6].L.W.Data[i] != w[i] && !math.IsNaN(float64(w[i])) {
			t.Fatal("a refused safe merge changed the weights")
		}
	}
	if ts[0].L.Delta.(*Set).merged != nil {
		t.Error("a refused safe merge marked layers merged")
	}
}

func TestRowRouting(t *testing.T) {
	for _, dora := range []bool{false, true} {
		t.Run(fmt.Sprintf("dora=%v", dora), func(t *testing.T) {
			route := []int{0, 1, -1, 1, 0, 0}
			n := len(route)
			// run builds a fresh model with adapters a and b on up_proj,
			// activates active, routes rows (nil: no routing) and returns
			// the layer's y, dx and the concatenated dA of a and b. Rows
			// whose route is not in keep get no output gradient.
			run := func(active []string, rows []int, keep func(k int) bool) (y, dx, dA []float32) {
				ts := toyTargets(6)
				m := New(ts, 0)
				cfg := allLinear(func(c *Config) { c.UseDoRA = dora; c.TargetModules = List("up_proj") })
				m.Add("a", cfg, "false", 1)
				m.Add("b", cfg, "false", 2)
				m.SetActive(active...)
				m.SetRows(rows)
				l := ts[2].L
				x := testutil.RandN(testutil.NewRand(8), n*l.In(), 1)
				dy := testutil.RandN(testutil.NewRand(9), n*l.Out(), 1)
				for i, k := range route {
					if !keep(k) {
						clear(dy[i*l.Out() : (i+1)*l.Out()])
					}
				}
				y = make([]float32, n*l.Out())
				l.Forward(x, y, n)
				dx = make([]float32, n*l.In())
				l.Backward(x, dy, dx, n)
				for _, name := range []string{"a", "b"} {
					dA = append(dA, m.Layer(ts[2].Name).Adapter(name).DA.Data...)
				}
				return y, dx, dA
			}
			all := func(int) bool { return true }
			y, dx, dA := run([]string{"a", "b"}, route, all)
			out, in := len(y)/n, len(dx)/n
			// Each routed row equals that row run with its adapter alone
			// (or with none).
			for k, active := range [][]string{{"a"}, {"b"}, nil} {
				want := k
				if active == nil {
					want = -1
				}
				var yk, dxk []float32
				if active == nil {
					yk, dxk, _ = run([]string{"a"}, []int{-1, -1, -1, -1, -1, -1}, all)
				} else {
					yk, dxk, _ = run(active, nil, all)
				}
				for i, r := range route {
					if r == want {
						testutil.AllClose(t, fmt.Sprintf("row %d y", i), y[i*out:(i+1)*out], testutil.To64(yk[i*out:(i+1)*out]), 1e-6, 1e-6)
						testutil.AllClose(t, fmt.Sprintf("row %d dx", i), dx[i*in:(i+1)*in], testutil.To64(dxk[i*in:(i+1)*in]), 1e-5, 1e-5)
					}
				}
			}
			// Adapter gradients: a's come from its rows only, b's from b's.
			_, _, dAa := run([]string{"a"}, nil, func(k int) bool { return k == 0 })
			_, _, dAb := run([]string{"b"}, nil, func(k int) bool { return k == 1 })
			half := len(dA) / 2
			testutil.GradClose(t, "dA of a", dA[:half], testutil.To64(dAa[:half]), 1e-5, 0)
			testutil.GradClose(t, "dA of b", dA[half:], testutil.To64(dAb[half:]), 1e-5, 0)
		})
	}
}

func TestSummaryAndGroups(t *testing.T) {
	ts := toyTargets(7)
	m := New(ts, baseParams(ts))
	cfg := allLinear(func(c *Config) { c.TargetModules = List("q_proj", "v_proj"); c.UseDoRA = true })
	m.Add("default", cfg, "", 1)
	m.Add("other", cfg, "", 2)
	// q: A 4x16 + B 16x4 + m 16 = 144; v: 64 + 32 + 8 = 104; two layers.
	tr := 2 * (144 + 104)
	all := baseParams(ts) + 2*tr
	want := fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(tr), commas(all), 100*float64(tr)/float64(all))
	if got := m.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if commas(1234567) != "1,234,567" || commas(999) != "999" {
		t.Errorf("commas: %s %s", commas(1234567), commas(999))
	}
	gs := m.ParamGroups(1e-4, 16)
	if len(gs) != 2 || gs[0].LR != 1e-4 || gs[1].LR != 16e-4 {
		t.Fatalf("LoRA+ groups %+v", gs)
	}
	for _, p := range gs[0].Params {
		if p.Group != GroupA || !strings.HasSuffix(p.Name, "lora_A.weight") {
			t.Errorf("group A holds %s", p.Name)
		}
	}
	nb := 0
	for _, p := range gs[1].Params {
		if p.Group == GroupB {
			nb++
		} else if p.Group != GroupMagnitude || !strings.HasSuffix(p.Name, "lora_magnitude_vector") {
			t.Errorf("group B holds %s", p.Name)
		}
	}
	if nb != 4 || len(gs[0].Params) != 4 {
		t.Errorf("%d B tensors and %d A tensors, want 4 and 4", nb, len(gs[0].Params))
	}
	if g := m.ParamGroups(1e-4, 0); len(g) != 1 || len(g[0].Params) != 12 {
		t.Errorf("without LoRA+: %d groups", len(g))
	}
}

func TestAddWeighted(t *testing.T) {
	ts := toyTargets(8)
	m := New(ts, 0)
	m.Add("a", allLinear(func(c *Config) { c.TargetModules = List("q_proj", "v_proj", "up_proj", "down_proj") }), "false", 1)
	m.Add("b", allLinear(func(c *Config) { c.R, c.LoraAlpha = 2, 6; c.TargetModules = List("q_proj") }), "false", 2)
	w := []float64{0.7, 0.4}
	delta := func(name, mod string) []float32 {
		a := m.Layer(mod).Adapter(name)
		if a == nil {
			return nil
		}
		return a.DeltaWeight(false).Data
	}
	for _, how := range []string{"cat", "svd"} {
		name := "mix_" + how
		if err := m.AddWeighted(name, []string{"a", "b"}, w, how); err != nil {
			t.Fatal(err)
		}
		for _, tg := range ts[:len(ts)-1] {
			want := make([]float64, tg.L.W.Len())
			for i, src := range []string{"a", "b"} {
				if d := delta(src, tg.Name); d != nil {
					for j, v := range d {
						want[j] += w[i] * float64(v)
					}
				}
			}
			got := delta(name, tg.Name)
			// svd keeps max(r) = 4 directions: exact where only a (rank 4)
			// is present, truncated on q_proj (rank 4 + 2).
			if how == "svd" && strings.HasSuffix(tg.Name, "q_proj") {
				continue
			}
			testutil.GradClose(t, how+" "+tg.Name, got, want, 1e-5, 0)
		}
	}
	if err := m.AddWeighted("lin", []string{"a", "b"}, w, "linear"); err == nil {
		t.Error("linear combination of different ranks succeeded")
	}
	if err := m.AddWeighted("lin", []string{"a"}, []float64{0.5}, "linear"); err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts[:len(ts)-1] {
		d := delta("a", tg.Name)
		want := make([]float64, len(d))
		for j, v := range d {
			want[j] = 0.5 * float64(v)
		}
		testutil.GradClose(t, "linear "+tg.Name, delta("lin", tg.Name), want, 1e-5, 0)
	}
	if c := m.Config("mix_cat"); c.R != 6 || c.LoraAlpha != 6 {
		t.Errorf("cat config r %d alpha %g, want 6 6", c.R, c.LoraAlpha)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ts := toyTargets(9)
	m := New(ts, 0)
	cfg := allLinear(func(c *Config) {
		c.UseDoRA, c.UseRSLoRA = true, true
		c.RankPattern = Pattern{{Key: "layers.1.mlp.up_proj", Value: 6}}
	})
	if err := m.Add("default", cfg, "gaussian", 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Add("second", allLinear(func(c *Config) { c.TargetModules = List("v_proj") }), "false", 2); err != nil {
		t.Fatal(err)
	}
	// Make every value distinctive (B is zero after gaussian init).
	rng := testutil.NewRand(3)
	for _, p := range append(m.Params(), paramsOf(m, "second")...) {
		copy(p.W.Data, testutil.RandN(rng, p.W.Len(), 1))
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ConfigFile, WeightsFile, "second/" + ConfigFile, "second/" + WeightsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	ts2 := toyTargets(9)
	m2 := New(ts2, 0)
	if err := m2.Load(dir, "default"); err != nil {
		t.Fatal(err)
	}
	if err := m2.Load(filepath.Join(dir, "second"), "second"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "second"} {
		want, got := m.StateDict(name), m2.StateDict(name)
		if len(want) != len(got) {
			t.Fatalf("%s: %d tensors back, want %d", name, len(got), len(want))
		}
		for k, w := range want {
			g := got[k]
			if g == nil {
				t.Fatalf("%s: %s not loaded", name, k)
			}
			for i := range w.Data {
				if math.Float32bits(w.Data[i]) != math.Float32bits(g.Data[i]) {
					t.Fatalf("%s: %s[%d] = %g, want %g bit for bit", name, k, i, g.Data[i], w.Data[i])
				}
			}
		}
	}
	if _, ok := m.StateDict("default")["base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"]; !ok {
		t.Error("DoRA magnitude not saved as lora_magnitude_vector")
	}
	if a := m2.Layer("model.layers.1.mlp.up_proj").Adapter("default"); a.R() != 6 || float64(a.Scaling) != float64(float32(8/math.Sqrt(6))) {
		t.Errorf("rank pattern + rsLoRA after load: r %d scaling %g", a.R(), a.Scaling)
	}
	if d := maxRelDiff(outputs(ts2), outputs(ts)); d != 0 {
		t.Errorf("reloaded model's outputs differ by %g", d)
	}
}

func paramsOf(m *Model, name string) []Param {
	var ps []Param
	for _, s := range m.Layers() {
		if a := s.Adapter(name); a != nil {
			ps = append(ps, a.params()...)
		}
	}
	return ps
}

func TestTrainableBias(t *testing.T) {
	ts := toyTargets(10)
	m := New(ts, 0)
	m.Add("default", allLinear(func(c *Config) { c.Bias = "lora_only"; c.TargetModules = List("q_proj") }), "", 1)
	var names []string
	for _, p := range m.Params() {
		if p.Group == GroupBias {
			names = append(names, p.Name)
		}
	}
	if len(names) != 2 || !strings.HasSuffix(names[0], "q_proj.bias") {
		t.Errorf("trained biases %v, want the two q_proj biases", names)
	}
	if _, ok := m.StateDict("default")["base_model.model.model.layers.0.self_attn.q_proj.bias"]; !ok {
		t.Error("lora_only bias not saved")
	}
	var _ nn.Delta = m.Layer(ts[0].Name)
}

func TestModulesToSave(t *testing.T) {
	ts := toyTargets(11)
	head := ts[len(ts)-1].L
	orig := head.W
	base := outputs(ts)
	m := New(ts, baseParams(ts))
	cfg := allLinear(func(c *Config) { c.TargetModules = List("q_proj"); c.ModulesToSave = []string{"lm_head"} })
	if err := m.Add("default", cfg, "", 1); err != nil {
		t.Fatal(err)
	}
	if head.W == orig || head.DW == nil {
		t.Fatal("the active adapter's trainable copy of lm_head is not in place")
	}
	var saved []string
	for _, p := range m.Params() {
		if p.Group == GroupSaved {
			saved = append(saved, p.Name)
		}
	}
	if strings.Join(saved, ",") != "base_model.model.lm_head.weight" {
		t.Errorf("saved params %v", saved)
	}
	if d := maxRelDiff(outputs(ts), base); d != 0 {
		t.Errorf("a fresh copy changed the outputs by %g", d)
	}
	head.W.Data[0] += 1 // train the copy
	if d := maxRelDiff(outputs(ts), base); d == 0 {
		t.Error("the copy is not used in the forward")
	}
	m.Disable()
	if head.W != orig || maxRelDiff(outputs(ts), base) != 0 {
		t.Error("Disable does not restore the original lm_head")
	}
	m.Enable()
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	ts2 := toyTargets(11)
	m2 := New(ts2, baseParams(ts2))
	if err := m2.Load(dir, "default"); err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(outputs(ts2), outputs(ts)); d != 0 {
		t.Errorf("reloaded modules_to_save differ by %g", d)
	}
	tr, _ := m.NumParams()
	if want := 2*(4*16+16*4) + 20*16; tr != want {
		t.Errorf("trainable %d, want %d", tr, want)
	}
}

// TestSaveConverted: a trained PiSSA adapter saved for the original base
// reproduces the trained model's outputs there.
func TestSaveConverted(t *testing.T) {
	for _, init := range []string{"pissa", "olora"} {
		t.Run(init, func(t *testing.T) {
			ts := toyTargets(12)
			m := New(ts, 0)
			if err := m.Add("default", allLinear(func(c *Config) { c.UseRSLoRA = true }), init, 1); err != nil {
				t.Fatal(err)
			}
			rng := testutil.NewRand(4) // "train": move A and B
			for _, p := range m.Params() {
				for i := range p.W.Data {
					p.W.Data[i] += float32(0.05 * rng.NormFloat64())
				}
			}
			trained := outputs(ts)
			dir := t.TempDir()
			if err := m.SaveConverted(dir, "default"); err != nil {
				t.Fatal(err)
			}
			orig := toyTargets(12) // the untouched base
			m2 := New(orig, 0)
			if err := m2.Load(dir, "default"); err != nil {
				t.Fatal(err)
			}
			if c := m2.Config("default"); c.R != 8 || c.InitLoraWeights != "true" {
				t.Errorf("converted config r %d init %s", c.R, c.InitLoraWeights)
			}
			if d := maxRelDiff(outputs(orig), trained); d > 1e-5 {
				t.Errorf("converted adapter on the original base differs by %g", d)
			}
		})
	}
}

func TestDefaultTargets(t *testing.T) {
	ts := toyTargets(13)
	m := New(ts, 0)
	c := DefaultConfig()
	if err := m.Add("default", c, "", 1); err == nil {
		t.Error("no target_modules and no model_type: accepted")
	}
	m.ModelType = "llama"
	if err := m.Add("default", c, "", 1); err != nil {
		t.Fatal(err)
	}
	if got := len(m.Layers()); got != 4 {
		t.Errorf("PEFT's llama default (q_proj, v_proj) hit %d layers, want 4", got)
	}
}
