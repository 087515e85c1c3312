package model

import (
	"math"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// SetPrepacked must not change a bit of prefill or decode logits, for every
// block variant (fused and separate projections, tied heads, biases), and
// off must drop the panels again.
func TestPrepackedSameBits(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			mm, err := NewRandom(cfg, 11)
			if err != nil {
				t.Fatal(err)
			}
			m := mm.(*Transformer)
			r := testutil.NewRand(4)
			prompt := make([]int, 9)
			for i := range prompt {
				prompt[i] = r.IntN(cfg.VocabSize)
			}
			run := func() []float32 {
				c := m.NewCache(1, 16)
				out, err := m.StepAll(c, [][]int{prompt})
				if err != nil {
					t.Fatal(err)
				}
				out = append([]float32(nil), out...)
				for i := range 3 {
					l, err := m.Step(c, [][]int{{prompt[i]}})
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, l...)
				}
				return out
			}
			want := run()
			if b := m.SetPrepacked(true); b < int64(4*cfg.VocabSize*m.cfg.HiddenSize) {
				t.Fatalf("SetPrepacked: %d bytes packed", b)
			}
			got := run()
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("logit %d: %g prepacked, %g not", i, got[i], want[i])
				}
			}
			if m.SetPrepacked(false) != 0 || m.head.Packed != nil {
				t.Fatal("SetPrepacked(false) kept panels")
			}
		})
	}
}
