package model

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestRopeInvFreq compares InvFreq with transformers' functions
// (testdata/rope, float32 there, hence the tolerance) for every RoPE type.
func TestRopeInvFreq(t *testing.T) {
	data, err := os.ReadFile("testdata/rope/rope.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Name      string          `json:"name"`
			HeadDim   int             `json:"head_dim"`
			MaxPos    int             `json:"max_position_embeddings"`
			Rope      json.RawMessage `json:"rope_parameters"`
			SeqLen    int             `json:"seq_len"`
			InvFreq   []float64       `json:"inv_freq"`
			AttFactor float64         `json:"attention_factor"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 9 {
		t.Fatalf("%d cases", len(ref.Cases))
	}
	for _, tc := range ref.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			spec, err := parseRope(tc.Rope, "rope_parameters")
			if err != nil {
				t.Fatal(err)
			}
			if err := spec.check("rope_parameters"); err != nil {
				t.Fatal(err)
			}
			cfg := &Config{MaxPositionEmbeddings: tc.MaxPos, HeadDim: tc.HeadDim}
			inv, att := spec.InvFreq(cfg, tc.HeadDim, tc.SeqLen)
			if len(inv) != len(tc.InvFreq) {
				t.Fatalf("%d frequencies, want %d", len(inv), len(tc.InvFreq))
			}
			for j, w := range tc.InvFreq {
				if math.Abs(inv[j]-w) > 1e-6*math.Abs(w) {
					t.Errorf("inv_freq[%d] = %.9g, transformers %.9g", j, inv[j], w)
				}
			}
			if math.Abs(att-tc.AttFactor) > 1e-6 {
				t.Errorf("attention factor %.9g, transformers %.9g", att, tc.AttFactor)
			}
		})
	}
}

// TestPartialRotary: partial_rotary_factor rotates the first part of each
// head (Phi-4-mini), from the top-level key (transformers 4) or
// rope_parameters (5).
func TestPartialRotary(t *testing.T) {
	for _, js := range []string{
		`{"model_type":"phi3","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"partial_rotary_factor":0.75}`,
		`{"model_type":"phi3","hidden_size":64,"intermediate_size":96,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,
			"rope_parameters":{"rope_type":"default","rope_theta":10000.0,"partial_rotary_factor":0.75}}`,
	} {
		c, err := ParseConfig([]byte(js), "config.json")
		if err != nil {
			t.Fatal(err)
		}
		m := newTransformer(c, arch{FusedQKV: true, FusedGateUp: true}, weightNames{Layer: func(int) layerNames { return layerNames{} }})
		if rp := m.ropes[0].at(1); rp.D != 12 || rp.HeadSize != 16 {
			t.Errorf("rotary D %d, head stride %d; want 12 of 16", rp.D, rp.HeadSize)
		}
	}
}
