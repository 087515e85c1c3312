package model

import (
	"fmt"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

func tinyConfigs() map[string]*Config {
	b := func(v bool) *bool { return &v }
	return map[string]*Config{
		"gpt2": {ModelType: "gpt2", VocabSize: 61, NEmbd: 32, NLayer: 2, NHead: 4, NPositions: 64},
		"llama-gqa": {ModelType: "llama", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5},
		// head_dim × heads ≠ hidden (Qwen3/Gemma style), attention and MLP biases.
		"llama-headdim-bias": {ModelType: "llama", VocabSize: 61, HiddenSize: 24, IntermediateSize: 40, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 10, MaxPositionEmbeddings: 64, AttentionBias: true, MLPBias: true},
		"qwen2-tied": {ModelType: "qwen2", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 1, MaxPositionEmbeddings: 8, RopeTheta: 1e6, TieWordEmbeddings: b(true)},
	}
}

// TestCacheMatchesForward: prefilling ragged rows and decoding with idle
// rows gives, for every token, the logits of a full Forward of that row.
func TestCacheMatchesForward(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := NewRandom(cfg, 7)
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config().VocabSize
			r := testutil.NewRand(3)
			seqs := make([][]int, 3)
			for b := range seqs {
				for i := 0; i < 12+3*b; i++ {
					seqs[b] = append(seqs[b], r.IntN(V))
				}
			}
			// Each row's reference: Forward on the row alone.
			want := make([][]float32, len(seqs))
			for b, s := range seqs {
				want[b] = append([]float32(nil), m.Forward(s, 1, len(s))...)
			}
			c := m.NewCache(len(seqs), 20)
			// Schedule: prefill lengths 5, 1, 0; then steps of 1 token for
			// rows that still have tokens, row 2 starting late with a 4-token
			// chunk, so rows are ragged and sometimes idle.
			done := make([]int, len(seqs))
			chunk := [][]int{{5, 1, 0}, {1, 1, 4}, {2, 1, 0}, {1, 0, 1}}
			for step := 0; ; step++ {
				rows := make([][]int, len(seqs))
				any := false
				for b, s := range seqs {
					n := 1
					if step < len(chunk) {
						n = chunk[step][b]
					}
					n = min(n, len(s)-done[b])
					rows[b] = s[done[b] : done[b]+n]
					any = any || n > 0
				}
				if !any {
					break
				}
				all, err := m.StepAll(c, rows)
				if err != nil {
					t.Fatal(err)
				}
				off := 0
				for b, rw := range rows {
					for i := range rw {
						pos := done[b] + i
						label := fmt.Sprintf("row %d pos %d", b, pos)
						testutil.AllClose(t, label, all[off*V:(off+1)*V], testutil.To64(want[b][pos*V:(pos+1)*V]), 0, 1e-5)
						off++
					}
					done[b] += len(rw)
				}
				for b := range seqs {
					if c.Len(b) != done[b] {
						t.Fatalf("row %d: cache length %d, want %d", b, c.Len(b), done[b])
					}
				}
			}
			// Step (last token only) agrees with StepAll.
			c.Reset(-1)
			lastOnly, err := m.Step(c, [][]int{seqs[0][:3], nil, seqs[2][:2]})
			if err != nil {
				t.Fatal(err)
			}
			testutil.AllClose(t, "Step row 0", lastOnly[:V], testutil.To64(want[0][2*V:3*V]), 0, 1e-5)
			testutil.AllClose(t, "Step row 2", lastOnly[V:2*V], testutil.To64(want[2][1*V:2*V]), 0, 1e-5)
		})
	}
}

func TestCacheErrors(t *testing.T) {
	m, err := NewRandom(tinyConfigs()["gpt2"], 1)
	if err != nil {
		t.Fatal(err)
	}
	c := m.NewCache(2, 4)
	for _, tc := range []struct {
		name string
		rows [][]int
	}{
		{"too many tokens", [][]int{{1, 2, 3, 4, 5}, nil}},
		{"wrong row count", [][]int{{1}}},
		{"id out of range", [][]int{{1000}, nil}},
		{"negative id", [][]int{nil, {-1}}},
	} {
		if _, err := m.Step(c, tc.rows); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		if c.Len(0) != 0 || c.Len(1) != 0 {
			t.Errorf("%s: failed step changed the cache", tc.name)
		}
	}
}
