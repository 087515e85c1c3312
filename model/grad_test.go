package model

import (
	"math"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// scaleHook is a one-parameter sublayer hook, y ← s·y, to check that hooks
// get the right gradient and pass the right one on.
type scaleHook struct {
	s, ds float64
	y     []float32 // input saved for backward
}

func (h *scaleHook) Forward(y []float32, n int) {
	h.y = append(h.y[:0], y...)
	for i := range y {
		y[i] *= float32(h.s)
	}
}

func (h *scaleHook) Backward(dy []float32, n int) {
	for i := range dy {
		h.ds += float64(dy[i]) * float64(h.y[i])
		dy[i] *= float32(h.s)
	}
}

// TestFiniteDifferences checks Backward against central differences of the
// loss for the largest-gradient and one random entry of every weight of a
// small random model of each family, with and without checkpointing, and for
// the sublayer hooks' parameters. The model is float32 (the loss is summed
// in float64), so the step is large and the tolerance 2% of the tensor's
// max |grad|: enough to catch any wrong term, which moves the gradient by
// O(1) of itself. Exact agreement is the job of TestFixtures.
func TestFiniteDifferences(t *testing.T) {
	cfgs := tinyConfigs()
	for k, v := range gradOnlyConfigs() {
		cfgs[k] = v
	}
	for name, cfg := range cfgs {
		for _, ckpt := range []bool{false, true} {
			label := name
			if ckpt {
				label += "/checkpointing"
			}
			t.Run(label, func(t *testing.T) {
				m, err := NewRandom(cfg, 11)
				if err != nil {
					t.Fatal(err)
				}
				// Larger weights than HF's init so every path matters.
				r := testutil.NewRand(5)
				for _, p := range m.Params() {
					for i := range p.W.Data {
						if len(p.W.Shape) == 2 {
							p.W.Data[i] = float32(r.NormFloat64() * 0.2)
						} else {
							p.W.Data[i] += float32(r.NormFloat64() * 0.1)
						}
					}
				}
				hooks := []*scaleHook{{s: 0.9}, {s: 1.1}}
				if err := m.SetSublayerHook(0, "attn", hooks[0]); err != nil {
					t.Fatal(err)
				}
				if err := m.SetSublayerHook(1, "mlp", hooks[1]); err != nil {
					t.Fatal(err)
				}
				m.SetCheckpointing(ckpt)
				B, T := 2, 7
				V := m.Config().VocabSize
				ids := make([]int, B*T)
				targets := make([]int, B*T)
				for i := range ids {
					ids[i] = r.IntN(V)
					targets[i] = r.IntN(V)
				}
				targets[3] = IgnoreIndex
				m.SetTrainable(func(string) bool { return true })
				m.ZeroGrad()
				m.Loss(ids, targets, B, T)
				m.Backward()
				loss := func() float64 { return m.Loss(ids, targets, B, T) }
				for _, p := range m.Params() {
					g := p.G.Data
					gmax := testutil.MaxAbs(g)
					check := []int{testutil.ArgmaxAbs(g), r.IntN(len(g))}
					for _, i := range check {
						w0 := p.W.Data[i]
						h := float32(1e-2 * math.Max(1, math.Abs(float64(w0))))
						p.W.Data[i] = w0 + h
						hi := float64(p.W.Data[i])
						lp := loss()
						p.W.Data[i] = w0 - h
						lo := float64(p.W.Data[i])
						lm := loss()
						p.W.Data[i] = w0
						fd := (lp - lm) / (hi - lo)
						if e := math.Abs(fd - float64(g[i])); e > 2e-2*gmax+1e-6 {
							t.Errorf("%s[%d]: backward %.6g, finite difference %.6g (max |grad| %.3g)", p.Name, i, g[i], fd, gmax)
						}
					}
				}
				for k, hk := range hooks {
					s0 := hk.s
					hk.s = s0 + 1e-3
					lp := loss()
					hk.s = s0 - 1e-3
					lm := loss()
					hk.s = s0
					fd := (lp - lm) / 2e-3
					if e := math.Abs(fd - hk.ds); e > 2e-2*math.Abs(fd)+1e-5 {
						t.Errorf("hook %d: backward %.6g, finite difference %.6g", k, hk.ds, fd)
					}
				}
			})
		}
	}
}

// TestTrainableSubset: frozen weights get no gradient buffer, trainable ones
// get the same gradient as with everything trainable.
func TestTrainableSubset(t *testing.T) {
	m, err := NewRandom(tinyConfigs()["llama-gqa"], 3)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{1, 2, 3, 4, 5, 6, 7, 8}
	targets := []int{2, 3, 4, 5, 6, 7, 8, IgnoreIndex}
	m.SetTrainable(func(string) bool { return true })
	m.ZeroGrad()
	m.Loss(ids, targets, 2, 4)
	m.Backward()
	full := map[string][]float32{}
	for _, p := range m.Params() {
		full[p.Name] = append([]float32(nil), p.G.Data...)
	}
	only := func(n string) bool { return strings.Contains(n, "v_proj") || strings.HasSuffix(n, "norm.weight") }
	m.SetTrainable(only)
	m.ZeroGrad()
	m.Loss(ids, targets, 2, 4)
	m.Backward()
	for _, p := range m.Params() {
		if p.Trainable != only(p.Name) || (p.G != nil) != p.Trainable {
			t.Errorf("%s: trainable %v, has gradient %v", p.Name, p.Trainable, p.G != nil)
			continue
		}
		if p.Trainable {
			testutil.AllClose(t, p.Name, p.G.Data, testutil.To64(full[p.Name]), 1e-6, 1e-9)
		}
	}
}
