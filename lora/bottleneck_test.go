package lora

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/nn"
)

// hookSlots is a stand-in model that records installed hooks.
type hookSlots map[string]nn.SublayerHook

func (h hookSlots) SetSublayerHook(l int, site string, hk nn.SublayerHook) error {
	if site != "attn" && site != "mlp" {
		return fmt.Errorf("no site %q", site)
	}
	key := fmt.Sprintf("%d.%s", l, site)
	if hk == nil {
		delete(h, key)
	} else {
		h[key] = hk
	}
	return nil
}

// ref64 forward of one bottleneck: y + s·(Up·act(Down·y + bd) + bu).
func bottleneckRef(b *Bottleneck, y, down, downB, up, upB []float64, n int) []float64 {
	d, c := b.Down.Shape[0], b.Down.Shape[1]
	out := append([]float64(nil), y...)
	for i := 0; i < n; i++ {
		a := make([]float64, d)
		for k := 0; k < d; k++ {
			h := downB[k]
			for j := 0; j < c; j++ {
				h += down[k*c+j] * y[i*c+j]
			}
			switch b.Act {
			case "silu":
				a[k] = h / (1 + math.Exp(-h))
			default: // gelu_new
				a[k] = 0.5 * h * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(h+0.044715*h*h*h)))
			}
		}
		for j := 0; j < c; j++ {
			v := upB[j]
			for k := 0; k < d; k++ {
				v += up[j*d+k] * a[k]
			}
			out[i*c+j] += float64(b.Scaling) * v
		}
	}
	return out
}

func TestBottleneck(t *testing.T) {
	for _, act := range []string{"gelu_new", "silu"} {
		t.Run(act, func(t *testing.T) {
			host := hookSlots{}
			m := New(nil, 1000)
			cfg := DefaultBottleneckConfig()
			cfg.Size, cfg.NonLinearity, cfg.Scaling = 3, act, 0.7
			const nL, C, n = 2, 8, 4
			if err := m.AddBottleneck("bn", cfg, host, nL, C, 1); err != nil {
				t.Fatal(err)
			}
			if len(host) != 4 {
				t.Fatalf("%d hooks installed, want 4", len(host))
			}
			h := host["1.mlp"].(*Bottleneck)
			rng := testutil.NewRand(2)
			y := testutil.RandN(rng, n*C, 1)
			y0 := append([]float32(nil), y...)
			h.Forward(y, n)
			for i := range y {
				if y[i] != y0[i] {
					t.Fatal("a fresh bottleneck adapter is not the identity")
				}
			}
			for _, p := range h.params() {
				copy(p.W.Data, testutil.RandN(rng, p.W.Len(), 0.5))
			}
			copy(y, y0)
			h.Forward(y, n)
			y64 := testutil.To64(y0)
			ps := h.params()
			w := make([][]float64, 4)
			for i, p := range ps {
				w[i] = testutil.To64(p.W.Data)
			}
			fwd := func() []float64 { return bottleneckRef(h, y64, w[0], w[1], w[2], w[3], n) }
			testutil.AllClose(t, "forward", y, fwd(), 1e-5, 1e-6)
			coef := testutil.RandN(rng, n*C, 1)
			dy := append([]float32(nil), coef...)
			h.Backward(dy, n)
			loss := func() float64 {
				var s float64
				for i, v := range fwd() {
					s += float64(coef[i]) * v
				}
				return s
			}
			for i, p := range ps {
				num := testutil.NumGrad(func([]float64) float64 { return loss() }, w[i], 1e-6)
				testutil.GradClose(t, "d"+p.Name, p.G.Data, num, 1e-4, 1e-6)
			}
			num := testutil.NumGrad(func([]float64) float64 { return loss() }, y64, 1e-6)
			testutil.GradClose(t, "dy", dy, num, 1e-4, 1e-6)

			// Save, load into a fresh host, same tensors; trainable count.
			dir := filepath.Join(t.TempDir(), "bn")
			if err := m.SaveBottleneck(dir, "bn"); err != nil {
				t.Fatal(err)
			}
			host2 := hookSlots{}
			m2 := New(nil, 1000)
			if err := m2.LoadBottleneck(dir, "bn", host2, nL, C); err != nil {
				t.Fatal(err)
			}
			for i, p := range host2["1.mlp"].(*Bottleneck).params() {
				for j := range p.W.Data {
					if p.W.Data[j] != ps[i].W.Data[j] {
						t.Fatalf("%s differs after load", p.Name)
					}
				}
			}
			tr, all := m.NumParams()
			if want := 4 * (3*8 + 3 + 8*3 + 8); tr != want || all != 1000+want {
				t.Errorf("NumParams %d/%d, want %d/%d", tr, all, want, 1000+want)
			}
			m.Disable()
			copy(y, y0)
			h.Forward(y, n)
			if y[0] != y0[0] {
				t.Error("a disabled bottleneck changed its input")
			}
			if err := m.Delete("bn"); err != nil || len(host) != 0 {
				t.Errorf("delete: %v, %d hooks left", err, len(host))
			}
		})
	}
}

// TestLoRAWithBottleneck: both kinds active at once, both trainable.
func TestLoRAWithBottleneck(t *testing.T) {
	ts := toyTargets(1)
	m := New(ts, baseParams(ts))
	if err := m.Add("lora", allLinear(nil), "", 1); err != nil {
		t.Fatal(err)
	}
	host := hookSlots{}
	if err := m.AddBottleneck("bn", DefaultBottleneckConfig(), host, 2, 16, 2); err != nil {
		t.Fatal(err)
	}
	groups := map[Group]int{}
	for _, p := range m.Params() {
		groups[p.Group]++
	}
	if groups[GroupA] != 8 || groups[GroupB] != 8 || groups[GroupBottleneck] != 16 {
		t.Errorf("trainable groups %v", groups)
	}
	if err := m.SetActive("bn"); err != nil {
		t.Fatal(err)
	}
	if groups := len(m.Params()); groups != 16 {
		t.Errorf("bottleneck alone: %d trainable tensors, want 16", groups)
	}
}
