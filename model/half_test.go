package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// tinyLlama is a 2-layer random Llama-shaped model built from the block
// directly, with names of its own.
func tinyLlama(bias bool) *Transformer {
	cfg := &Config{ModelType: "llama", VocabSize: 67, HiddenSize: 64, IntermediateSize: 96, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16, MaxPositionEmbeddings: 64, RopeTheta: 10000, RMSNormEps: 1e-5}
	names := weightNames{Embed: "emb", FinalNorm: "norm", Head: "head", Layer: func(l int) layerNames {
		p := fmt.Sprintf("l%d.", l)
		return layerNames{Norm1: p + "n1", Norm2: p + "n2", Q: p + "q", K: p + "k", V: p + "v", O: p + "o",
			Gate: p + "gate", Up: p + "up", Down: p + "down"}
	}}
	m := newTransformer(cfg, arch{QKVBias: bias, MLPBias: bias}, names)
	m.initRandom(3)
	for _, p := range m.Params() {
		if len(p.W.Shape) == 1 && bias { // non-zero biases, so their path is checked
			for i := range p.W.Data {
				p.W.Data[i] += 0.01 * float32(i%5)
			}
		}
	}
	return m
}

// TestDecodeF16 runs prefill and decode with and without the F16 copies:
// logits stay close to the float32 ones at F16's precision, turning it off
// restores float32 decoding exactly, and training's Forward never uses the
// copies.
func TestDecodeF16(t *testing.T) {
	for _, bias := range []bool{false, true} {
		t.Run(fmt.Sprintf("bias=%v", bias), func(t *testing.T) {
			m := tinyLlama(bias)
			prompt := []int{1, 5, 9, 13, 17, 21, 2, 3}
			run := func() ([]float32, []float32) {
				c := m.NewCache(2, 16)
				pre, err := m.Step(c, [][]int{prompt, prompt[:6]})
				if err != nil {
					t.Fatal(err)
				}
				pre = append([]float32(nil), pre...)
				var dec []float32
				for i := 0; i < 3; i++ {
					l, err := m.Step(c, [][]int{{4 + i}, {40 + i}})
					if err != nil {
						t.Fatal(err)
					}
					dec = append(dec, l...)
				}
				return pre, dec
			}
			pre32, dec32 := run()
			fwd32 := append([]float32(nil), m.Forward(prompt[:2], 1, 2)...)
			m.SetDecodeF16(true)
			if !m.DecodeF16() {
				t.Fatal("DecodeF16 false after SetDecodeF16(true)")
			}
			pre16, dec16 := run()
			fwd16 := m.Forward(prompt[:2], 1, 2)
			// Prefill's blocks see 14 rows (float32 GEMMs); its head sees
			// the 2 last tokens, a gemv that uses the copies.
			dec32 = append(pre32, dec32...)
			dec16 = append(pre16, dec16...)
			for i := range fwd32 {
				if fwd16[i] != fwd32[i] {
					t.Fatalf("training Forward logit %d changed: %g vs %g", i, fwd16[i], fwd32[i])
				}
			}
			scale := float64(testutil.MaxAbs(dec32))
			for i := range dec32 {
				if d := math.Abs(float64(dec16[i] - dec32[i])); d > 1e-2*scale {
					t.Errorf("decode logit %d: F16 %g, F32 %g", i, dec16[i], dec32[i])
				}
			}
			m.SetDecodeF16(false)
			pb, back := run()
			back = append(pb, back...)
			for i := range dec32 {
				if back[i] != dec32[i] {
					t.Fatalf("decode logit %d after SetDecodeF16(false): %g, want %g", i, back[i], dec32[i])
				}
			}
		})
	}
}
