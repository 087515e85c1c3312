package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/nn"
)

// TestLossChunked: the chunked head and cross-entropy of a training step
// give the loss and every gradient of Forward, CrossEntropy and
// BackwardLogits on the whole (B*T, V) logits, for every family (soft-capped
// and scaled logits, tied heads), with chunks of 5 rows, one chunk wholly
// ignored, and a loss weight.
func TestLossChunked(t *testing.T) {
	defer func(c int) { headChunk = c }(headChunk)
	const B, T, weight = 2, 8, 0.75
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := NewRandom(cfg, 7)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTrainable(func(string) bool { return true })
			V := m.Config().VocabSize
			r := rand.New(rand.NewPCG(1, 2))
			ids, tg := make([]int, B*T), make([]int, B*T)
			for i := range ids {
				ids[i], tg[i] = r.IntN(V), r.IntN(V)
			}
			for i := 5; i < 10; i++ {
				tg[i] = IgnoreIndex // the second chunk counts nothing
			}
			tg[12] = IgnoreIndex

			m.ZeroGrad()
			logits := m.Forward(ids, B, T)
			want, wn := nn.CrossEntropy(logits, logits, tg, B*T, V, IgnoreIndex)
			for i := range logits {
				logits[i] *= weight
			}
			m.BackwardLogits(logits)
			ref := grads(m)

			headChunk = 5 * V
			lc := m.(interface {
				LossChunked(ids, targets []int, B, T int, weight float32, backward bool) (float64, int)
			})
			m.ZeroGrad()
			got, gn := lc.LossChunked(ids, tg, B, T, weight, true)
			if gn != wn || math.Abs(got-want) > 1e-6*math.Abs(want) {
				t.Fatalf("loss %v over %d targets, want %v over %d", got, gn, want, wn)
			}
			if ev, en := lc.LossChunked(ids, tg, B, T, 1, false); en != wn || math.Abs(ev-want) > 1e-6*math.Abs(want) {
				t.Errorf("loss without backward %v over %d, want %v", ev, en, want)
			}
			for i, g := range grads(m) {
				scale := 0.0
				for _, v := range ref[i] {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for j := range g {
					if d := math.Abs(float64(g[j] - ref[i][j])); d > 1e-5*scale+1e-9 {
						t.Fatalf("%s[%d]: chunked %g, whole %g", m.Params()[i].Name, j, g[j], ref[i][j])
					}
				}
			}
		})
	}
}

// grads copies every parameter gradient of m.
func grads(m Model) [][]float32 {
	var out [][]float32
	for _, p := range m.Params() {
		if p.G != nil {
			out = append(out, append([]float32(nil), p.G.Data...))
		}
	}
	return out
}
