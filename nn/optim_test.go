package nn

import (
	"fmt"
	"math"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

// adamw64 is torch.optim.AdamW's single-tensor step, in float64.
func adamw64(p, g, m, v []float64, step int, lr, b1, b2, eps, wd float64) {
	for i := range p {
		p[i] *= 1 - lr*wd
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		bc1 := 1 - math.Pow(b1, float64(step))
		bc2 := 1 - math.Pow(b2, float64(step))
		denom := math.Sqrt(v[i])/math.Sqrt(bc2) + eps
		p[i] -= lr / bc1 * m[i] / denom
	}
}

func TestAdamW(t *testing.T) {
	for _, tc := range []struct {
		n      int
		lr, wd float32
		opt    AdamW
	}{
		{1, 1e-3, 0.01, DefaultAdamW()},
		{17, 1e-2, 0, AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8}},
		{1000, 3e-4, 0.1, AdamW{Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}},
	} {
		t.Run(fmt.Sprintf("n%d", tc.n), func(t *testing.T) {
			r := tu.NewRand(uint64(tc.n))
			p := tu.RandN(r, tc.n, 1)
			m, v := make([]float32, tc.n), make([]float32, tc.n)
			p64, m64, v64 := tu.To64(p), make([]float64, tc.n), make([]float64, tc.n)
			o := tc.opt
			for step := 1; step <= 10; step++ {
				g := tu.RandN(r, tc.n, 0.1)
				g[0] = 0 // a zero gradient must not divide by zero
				o.Update(p, g, m, v, step, tc.lr, tc.wd)
				adamw64(p64, tu.To64(g), m64, v64, step, float64(tc.lr), float64(o.Beta1), float64(o.Beta2), float64(o.Eps), float64(tc.wd))
			}
			tu.AllClose(t, "param", p, p64, 1e-6, 1e-7)
			tu.AllClose(t, "m", m, m64, 1e-5, 1e-7) // m cancels: float32 rounding of 0.1-sized terms
			tu.AllClose(t, "v", v, v64, 1e-5, 1e-12)
		})
	}
}

func TestGlobalNormAndClip(t *testing.T) {
	r := tu.NewRand(9)
	a, b := tu.RandN(r, 10000, 1), tu.RandN(r, 3, 1)
	var ss float64
	for _, g := range [][]float32{a, b} {
		for _, e := range g {
			ss += float64(e) * float64(e)
		}
	}
	want := math.Sqrt(ss)
	if got := GlobalNorm(a, b); math.Abs(got-want) > 1e-6*want {
		t.Errorf("GlobalNorm %v, want %v", got, want)
	}
	tests := []struct {
		name    string
		maxNorm float64
		scale   float64
	}{
		{"no clip", 2 * want, 1},
		{"clip", want / 4, (want / 4) / (want + 1e-6)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a2, b2 := clone(a), clone(b)
			norm := ClipGradNorm(tc.maxNorm, a2, b2)
			if math.Abs(norm-want) > 1e-6*want {
				t.Errorf("returned norm %v, want %v", norm, want)
			}
			wa := tu.To64(a)
			for i := range wa {
				wa[i] *= tc.scale
			}
			tu.AllClose(t, "clipped", a2, wa, 1e-6, 0)
		})
	}
	nan := []float32{1, float32(math.NaN())}
	if n := ClipGradNorm(1, nan); !math.IsNaN(n) || nan[0] != 1 {
		t.Errorf("NaN norm: got %v, grads %v", n, nan)
	}
}
