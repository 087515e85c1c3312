package lora

import (
	"math"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
)

// TestQLoRAGradient checks LoRA training on a quantized base (QLoRA): the
// loss and the LoRA gradients equal those of a float32 model holding the
// same dequantized weights (up to float32 summation order: the quantized
// products run on decoded panels), and they agree with central finite
// differences of the quantized model's loss, on a llama shape whose rows
// fit Q4_K (256) and one layer of rows that do not (the MLP's 288: Q8_0).
func TestQLoRAGradient(t *testing.T) {
	cfg := &model.Config{ModelType: "llama", VocabSize: 61, HiddenSize: 256, IntermediateSize: 288, NumHiddenLayers: 1,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5}
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_K} {
		t.Run(dt.String(), func(t *testing.T) {
			r := testutil.NewRand(3)
			build := func() (model.Model, *Model) {
				m, err := model.NewRandom(cfg, 5)
				if err != nil {
					t.Fatal(err)
				}
				rr := testutil.NewRand(8)
				for _, p := range m.Params() { // larger than HF's init so every path matters
					if len(p.W.Shape) == 2 {
						for i := range p.W.Data {
							p.W.Data[i] = float32(rr.NormFloat64() * 0.2)
						}
					}
				}
				m.SetTrainable(nil)
				lm := ForModel(m)
				if err := lm.Add("default", allLinear(nil), "", 1); err != nil {
					t.Fatal(err)
				}
				for _, p := range lm.Params() { // B = 0 would hide A's gradient
					for i := range p.W.Data {
						p.W.Data[i] = float32(rr.NormFloat64() * 0.1)
					}
				}
				return m, lm
			}
			q, lq := build()
			if err := model.SetBaseDType(q, dt); err != nil {
				t.Fatal(err)
			}
			if got := model.BaseDTypeOf(q); got != dt {
				t.Fatalf("base dtype %v", got)
			}
			ref, lref := build()
			qp, rp := q.Params(), ref.Params()
			for i := range qp {
				if qp[i].W.IsQuant() {
					copy(rp[i].W.Data, qp[i].W.Float32())
				}
			}
			B, T := 2, 7
			ids, targets := make([]int, B*T), make([]int, B*T)
			for i := range ids {
				ids[i], targets[i] = r.IntN(cfg.VocabSize), r.IntN(cfg.VocabSize)
			}
			grads := func(m model.Model, lm *Model) (float64, []Param) {
				lm.ZeroGrad()
				l := m.Loss(ids, targets, B, T)
				m.Backward()
				return l, lm.Params()
			}
			lossQ, pq := grads(q, lq)
			lossR, pr := grads(ref, lref)
			if math.Abs(lossQ-lossR) > 1e-5*lossR {
				t.Errorf("loss %v, float32 on the dequantized weights %v", lossQ, lossR)
			}
			for i := range pq {
				testutil.GradClose(t, pq[i].Name, pq[i].G.Data, testutil.To64(pr[i].G.Data), 1e-3, 1e-3*testutil.MaxAbs(pr[i].G.Data))
			}
			loss := func() float64 { return q.Loss(ids, targets, B, T) }
			for _, p := range pq {
				g, gmax := p.G.Data, testutil.MaxAbs(p.G.Data)
				for _, i := range []int{testutil.ArgmaxAbs(g), r.IntN(len(g))} {
					w0 := p.W.Data[i]
					h := float32(1e-2 * math.Max(1, math.Abs(float64(w0))))
					p.W.Data[i] = w0 + h
					hi, lp := float64(p.W.Data[i]), loss()
					p.W.Data[i] = w0 - h
					lo, lm := float64(p.W.Data[i]), loss()
					p.W.Data[i] = w0
					if fd := (lp - lm) / (hi - lo); math.Abs(fd-float64(g[i])) > 2e-2*gmax+1e-6 {
						t.Errorf("%s[%d]: backward %.6g, finite difference %.6g (max |grad| %.3g)", p.Name, i, g[i], fd, gmax)
					}
				}
			}
		})
	}
}
