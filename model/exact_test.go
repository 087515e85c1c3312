package model

import (
	"math"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// TestRowExactStep: with SetRowExact, the logits of a sequence stepped
// alone (prefill chunks, then one token per step) are bit-identical to its
// logits when it shares every step with other sequences at other stages,
// for shapes that take the kernels' direct, dot-product and blocked paths.
func TestRowExactStep(t *testing.T) {
	cfgs := map[string]*Config{
		"gpt2": {ModelType: "gpt2", VocabSize: 301, NEmbd: 64, NLayer: 2, NHead: 4, NPositions: 128},
		"llama": {ModelType: "llama", VocabSize: 301, HiddenSize: 64, IntermediateSize: 172, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 128, RMSNormEps: 1e-5},
	}
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			mi, err := NewRandom(cfg, 7)
			if err != nil {
				t.Fatal(err)
			}
			m := mi.(*Transformer)
			m.SetRowExact(true)
			V := cfg.VocabSize
			r := testutil.NewRand(5)
			// Each sequence: prefill chunks, then single tokens.
			type seq struct{ chunks [][]int }
			mk := func(sizes ...int) seq {
				var s seq
				for _, n := range sizes {
					c := make([]int, n)
					for i := range c {
						c[i] = r.IntN(V)
					}
					s.chunks = append(s.chunks, c)
				}
				return s
			}
			// The last two meet at step 5 with prompt chunks of 10 and 6
			// rows, which run as one product (kernels.RowStable).
			seqs := []seq{mk(9, 1, 1, 1, 1, 1), mk(3, 1, 1, 1, 1, 1, 1, 1), mk(20, 7, 1, 1, 1), mk(1, 1, 1, 1, 1, 1, 1, 1, 1),
				mk(1, 10, 1, 1), mk(6, 1, 1)}
			alone := make([][][]float32, len(seqs))
			for b, s := range seqs {
				c := m.NewSlotCache(1)
				c.Alloc(0, 64)
				for _, ch := range s.chunks {
					lg, err := m.Step(c, [][]int{ch})
					if err != nil {
						t.Fatal(err)
					}
					alone[b] = append(alone[b], append([]float32(nil), lg...))
				}
			}
			// Together: sequence b starts at step b, so prefill chunks
			// share steps with other sequences' decode rows.
			c := m.NewSlotCache(len(seqs))
			for b := range seqs {
				c.Alloc(b, 64)
			}
			for step := 0; ; step++ {
				rows := make([][]int, len(seqs))
				var active []int
				for b, s := range seqs {
					if k := step - b; k >= 0 && k < len(s.chunks) {
						rows[b] = s.chunks[k]
						active = append(active, b)
					}
				}
				if len(active) == 0 {
					break
				}
				lg, err := m.Step(c, rows)
				if err != nil {
					t.Fatal(err)
				}
				for i, b := range active {
					got, want := lg[i*V:(i+1)*V], alone[b][step-b]
					for j := range got {
						if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
							t.Fatalf("step %d seq %d logit %d: %g in the batch, %g alone", step, b, j, got[j], want[j])
						}
					}
				}
			}
			for b := range seqs {
				c.Free(b)
				if c.RowCap(b) != 0 {
					t.Fatal("Free kept memory")
				}
			}
		})
	}
}
