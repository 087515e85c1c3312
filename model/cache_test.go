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
		// The newer families, each with its particular layers made to matter
		// at T = 7 (FD test) and in decode runs past the window (cache
		// test): windows shorter than the sequence, small soft-caps, q/k
		// norms, scaled RoPE of both config layouts, fused projections.
		"mistral-window": {ModelType: "mistral", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, SlidingWindow: ip(3),
			RopeScaling: []byte(`{"type": "linear", "factor": 2.0}`)},
		"qwen3-window-yarn": {ModelType: "qwen3", VocabSize: 61, HiddenSize: 24, IntermediateSize: 40, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 10, MaxPositionEmbeddings: 64, UseSlidingWindow: b(true),
			SlidingWindow: ip(4), MaxWindowLayers: ip(1), TieWordEmbeddings: b(true),
			RopeParameters: []byte(`{"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 16}`)},
		"gemma2-softcap": {ModelType: "gemma2", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 8, MaxPositionEmbeddings: 64, SlidingWindow: ip(4),
			QueryPreAttnScalar: 12, AttnLogitSoftcapping: fp(1.5), FinalLogitSoftcapping: fp(2.5), HiddenActivation: "gelu_pytorch_tanh"},
		"gemma3-local-global": {ModelType: "gemma3_text", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 16, MaxPositionEmbeddings: 64, SlidingWindow: ip(5),
			QueryPreAttnScalar: 16, LayerTypes: []string{"sliding_attention", "full_attention"},
			RopeParameters: []byte(`{"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
				"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}`)},
		"phi3-fused-longrope": {ModelType: "phi3", VocabSize: 61, HiddenSize: 32, IntermediateSize: 40, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 256, OriginalMaxPositionEmbeddings: 64, SlidingWindow: ip(6),
			RopeScaling: []byte(`{"type": "longrope", "short_factor": [1.0, 1.3, 1.7, 2.2], "long_factor": [1.0, 2.0, 4.0, 8.0]}`)},
		"phi4-partial-rotary": {ModelType: "phi3", VocabSize: 61, HiddenSize: 32, IntermediateSize: 40, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, PartialRotaryFactor: fp(0.5),
			RopeParameters: []byte(`{"rope_type": "default", "rope_theta": 10000.0}`)},
		"olmo2-llama3": {ModelType: "olmo2", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RopeTheta: 500000,
			RopeScaling: []byte(`{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}`)},
		"smollm3-norope": {ModelType: "smollm3", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, NoRopeLayers: []int{1, 0}},
		"granite": {ModelType: "granite", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, EmbeddingMultiplier: 3, ResidualMultiplier: 0.5,
			AttentionMultiplier: 0.3, LogitsScaling: 2, TieWordEmbeddings: b(true)},
	}
}

// gradOnlyConfigs are RoPE types whose rotation depends on the call's
// length (as in transformers), so a KV-cache decode that crosses the
// trained length does not reproduce a full forward: the gradient check
// runs them past that length (T = 7 > 4).
func gradOnlyConfigs() map[string]*Config {
	return map[string]*Config{
		"llama-dynamic": {ModelType: "llama", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 4,
			RopeParameters: []byte(`{"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}`)},
		"phi3-longrope-long": {ModelType: "phi3", VocabSize: 61, HiddenSize: 32, IntermediateSize: 40, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 16, OriginalMaxPositionEmbeddings: 4,
			RopeScaling: []byte(`{"type": "longrope", "short_factor": [1.0, 1.3, 1.7, 2.2], "long_factor": [1.0, 2.0, 4.0, 8.0]}`)},
	}
}

func ip(v int) *int         { return &v }
func fp(v float64) *float64 { return &v }

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

// TestSlidingWindowDecode decodes one token at a time far past the sliding
// window (the cache keeps 8× the window) and compares every step with a
// full-sequence forward; the same model without the window gives other
// logits, so the window is what is being matched.
func TestSlidingWindowDecode(t *testing.T) {
	const window, n = 4, 32
	cfg := *tinyConfigs()["mistral-window"]
	cfg.SlidingWindow = ip(window)
	m, err := NewRandom(&cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := testutil.NewRand(9)
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.IntN(cfg.VocabSize)
	}
	V := cfg.VocabSize
	want := append([]float32(nil), m.Forward(ids, 1, n)...)
	c := m.NewCache(1, n)
	if _, err := m.Step(c, [][]int{ids[:2]}); err != nil {
		t.Fatal(err)
	}
	for p := 2; p < n; p++ {
		got, err := m.Step(c, [][]int{{ids[p]}})
		if err != nil {
			t.Fatal(err)
		}
		testutil.AllClose(t, fmt.Sprintf("pos %d", p), got, testutil.To64(want[p*V:(p+1)*V]), 0, 1e-5)
	}
	full := cfg
	full.SlidingWindow = nil
	mf, err := NewRandom(&full, 5)
	if err != nil {
		t.Fatal(err)
	}
	lf := mf.Forward(ids, 1, n)
	diff := 0.0
	for i := (n - 1) * V; i < n*V; i++ {
		diff = max(diff, float64(abs32(lf[i]-want[i])))
	}
	if diff < 1e-3 {
		t.Errorf("last position: window and full attention agree within %g", diff)
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
