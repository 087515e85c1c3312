package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

// refAdamW is torch.optim.AdamW's update written out in float64, one
// scalar at a time.
func refAdamW(w, g, m, v []float64, t int, lr, wd, b1, b2, eps float64) {
	for j := range w {
		w[j] *= 1 - lr*wd
		m[j] = b1*m[j] + (1-b1)*g[j]
		v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
		mh := m[j] / (1 - math.Pow(b1, float64(t)))
		vh := v[j] / (1 - math.Pow(b2, float64(t)))
		w[j] -= lr * mh / (math.Sqrt(vh) + eps)
	}
}

func TestAdamWMatchesReference(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WeightDecay, cfg.LoRAPlusRatio = 0.1, 4
	r := rand.New(rand.NewPCG(1, 2))
	mk := func(name, group string, noDecay bool, n int) Param {
		p := Param{Name: name, W: tensor.New(n), G: tensor.New(n), Group: group, NoDecay: noDecay}
		for i := range p.W.Data {
			p.W.Data[i] = float32(r.NormFloat64())
		}
		return p
	}
	params := []Param{mk("a", "lora_A", false, 37), mk("b", "lora_B", false, 19), mk("n", "full", true, 5)}
	opt := newAdamW(cfg, params)
	type ref struct{ w, m, v []float64 }
	refs := make([]ref, len(params))
	for i, p := range params {
		refs[i] = ref{make([]float64, p.W.Len()), make([]float64, p.W.Len()), make([]float64, p.W.Len())}
		for j, x := range p.W.Data {
			refs[i].w[j] = float64(x)
		}
	}
	for step := 1; step <= 50; step++ {
		lr := lrAt("cosine", 1e-2, 5, 50, step)
		for i, p := range params {
			g := make([]float64, p.W.Len())
			for j := range g {
				g[j] = float64(float32(r.NormFloat64() * 0.3))
				p.G.Data[j] = float32(g[j])
			}
			plr, wd := lr, cfg.WeightDecay
			if p.Group == "lora_B" {
				plr *= cfg.LoRAPlusRatio
			}
			if p.NoDecay {
				wd = 0
			}
			refAdamW(refs[i].w, g, refs[i].m, refs[i].v, step, plr, wd, cfg.Beta1, cfg.Beta2, cfg.Eps)
		}
		opt.step(step, lr)
	}
	for i, p := range params {
		maxdiff := 0.0
		for j, x := range p.W.Data {
			maxdiff = math.Max(maxdiff, math.Abs(float64(x)-refs[i].w[j]))
		}
		if maxdiff > 2e-5 {
			t.Errorf("%s: maxdiff %g against the float64 reference after 50 steps", p.Name, maxdiff)
		}
	}
}

// TestAdamWGroups checks the group rules on closed forms: Adam's first
// step moves every weight by lr·sign(g) (m̂/√v̂ = g/|g|), LoRA+ multiplies
// that by the ratio for lora_B, and a zero gradient leaves only the decay
// w·(1 − lr·wd), which NoDecay parameters skip.
func TestAdamWGroups(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WeightDecay, cfg.LoRAPlusRatio, cfg.Eps = 0.5, 16, 1e-12
	const lr = 1e-3
	tests := []struct {
		group   string
		noDecay bool
		g       float32
		want    float64 // new value of w = 1
	}{
		{"lora_A", false, 0.25, (1 - lr*0.5) - lr},
		{"lora_A", false, -3, (1 - lr*0.5) + lr},
		{"lora_B", false, 0.25, (1 - 16*lr*0.5) - 16*lr},
		{"full", false, 0, 1 - lr*0.5},
		{"full", true, 0, 1},
		{"head", true, 2, 1 - lr},
	}
	for _, tc := range tests {
		p := Param{Name: "p", W: tensor.From([]float32{1}, 1), G: tensor.From([]float32{tc.g}, 1), Group: tc.group, NoDecay: tc.noDecay}
		newAdamW(cfg, []Param{p}).step(1, lr)
		if got := float64(p.W.Data[0]); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("group %s noDecay %v g %g: w = %.7f, want %.7f", tc.group, tc.noDecay, tc.g, got, tc.want)
		}
	}
}

func TestClipGrads(t *testing.T) {
	tests := []struct {
		g        []float32
		max      float64
		wantNorm float64
		wantG    []float32
	}{
		{[]float32{3, 4}, 10, 5, []float32{3, 4}},
		{[]float32{3, 4}, 1, 5, []float32{0.6, 0.8}},
		{[]float32{3, 4}, 0, 5, []float32{3, 4}},
		{[]float32{0, 0}, 1, 0, []float32{0, 0}},
	}
	for _, tc := range tests {
		// Split over two tensors: the norm is global.
		p := []Param{{G: tensor.From(append([]float32(nil), tc.g[:1]...), 1)}, {G: tensor.From(append([]float32(nil), tc.g[1:]...), 1)}}
		norm := clipGrads(p, tc.max)
		if math.Abs(norm-tc.wantNorm) > 1e-9 {
			t.Errorf("%v max %g: norm %g, want %g", tc.g, tc.max, norm, tc.wantNorm)
		}
		got := []float32{p[0].G.Data[0], p[1].G.Data[0]}
		for i := range got {
			if math.Abs(float64(got[i]-tc.wantG[i])) > 1e-6 {
				t.Errorf("%v max %g: clipped to %v, want %v", tc.g, tc.max, got, tc.wantG)
			}
		}
	}
}

func TestSchedule(t *testing.T) {
	const lr = 1.0
	tests := []struct {
		schedule      string
		warmup, total int
		step          int
		want          float64
	}{
		{"constant", 0, 10, 1, 1},
		{"constant", 4, 10, 1, 0.25},
		{"constant", 4, 10, 4, 1},
		{"constant", 4, 10, 10, 1},
		{"linear", 0, 9, 1, 0.9},
		{"linear", 0, 9, 9, 0.1},
		{"linear", 2, 11, 2, 1},
		{"linear", 2, 11, 7, 0.5},
		{"cosine", 0, 9, 1, 0.5 * (1 + math.Cos(math.Pi*0.1))},
		{"cosine", 0, 9, 5, 0.5 * (1 + math.Cos(math.Pi*0.5))},
		{"cosine", 10, 10, 10, 1}, // all warmup
		{"cosine", 3, 12, 3, 1},
		{"cosine", 3, 12, 12, 0.5 * (1 + math.Cos(math.Pi*0.9))},
	}
	for _, tc := range tests {
		if got := lrAt(tc.schedule, lr, tc.warmup, tc.total, tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s warmup %d total %d step %d: lr %g, want %g", tc.schedule, tc.warmup, tc.total, tc.step, got, tc.want)
		}
	}
	// Decaying schedules never increase after warmup and stay positive.
	for _, s := range []string{"linear", "cosine"} {
		prev := math.Inf(1)
		for step := 6; step <= 100; step++ {
			v := lrAt(s, lr, 5, 100, step)
			if v > prev || v <= 0 {
				t.Fatalf("%s: lr(%d) = %g after %g", s, step, v, prev)
			}
			prev = v
		}
	}
}
