package model

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tensor"
)

// halfToInterleaved is the inverse of interleavedToHalf: HF rows back to
// Meta's order, as llama2.c's export would store them.
func halfToInterleaved(w []float32, heads, D, cols int) []float32 {
	out := make([]float32, len(w))
	for h := 0; h < heads; h++ {
		for half := 0; half < 2; half++ {
			for j := 0; j < D/2; j++ {
				hf, meta := h*D+half*D/2+j, h*D+2*j+half
				copy(out[meta*cols:(meta+1)*cols], w[hf*cols:(hf+1)*cols])
			}
		}
	}
	return out
}

// toLlama2C writes the tiny-llama fixture as a llama2.c checkpoint (version
// 0 with a negative vocab_size for its untied head, or export version 1).
func toLlama2C(t *testing.T, w map[string]*tensor.Tensor, version int) []byte {
	const dim, hidden, L, NH, NKV, V, seq, D = 64, 96, 2, 4, 2, 101, 128, 16
	var buf bytes.Buffer
	put := func(v any) {
		if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	layer := func(name string, permute int) {
		for l := 0; l < L; l++ {
			x := w["model.layers."+string(rune('0'+l))+"."+name].Data
			if permute > 0 {
				x = halfToInterleaved(x, permute, D, dim)
			}
			put(x)
		}
	}
	if version == 0 {
		put([]int32{dim, hidden, L, NH, NKV, -V, seq})
		put(w["model.embed_tokens.weight"].Data)
		layer("input_layernorm.weight", 0)
		layer("self_attn.q_proj.weight", NH)
		layer("self_attn.k_proj.weight", NKV)
		layer("self_attn.v_proj.weight", 0)
		layer("self_attn.o_proj.weight", 0)
		layer("post_attention_layernorm.weight", 0)
		layer("mlp.gate_proj.weight", 0)
		layer("mlp.down_proj.weight", 0)
		layer("mlp.up_proj.weight", 0)
		put(w["model.norm.weight"].Data)
		put(make([]float32, seq*D)) // freq_cis_real and _imag
	} else {
		put(uint32(0x616b3432)) // "ak42"
		put(int32(1))
		put([]int32{dim, hidden, L, NH, NKV, V, seq})
		put(uint8(0)) // untied
		put(make([]byte, 256-buf.Len()))
		layer("input_layernorm.weight", 0)
		layer("post_attention_layernorm.weight", 0)
		put(w["model.norm.weight"].Data)
		put(w["model.embed_tokens.weight"].Data)
		layer("self_attn.q_proj.weight", NH)
		layer("self_attn.k_proj.weight", NKV)
		layer("self_attn.v_proj.weight", 0)
		layer("self_attn.o_proj.weight", 0)
		layer("mlp.gate_proj.weight", 0)
		layer("mlp.down_proj.weight", 0)
		layer("mlp.up_proj.weight", 0)
	}
	put(w["lm_head.weight"].Data)
	return buf.Bytes()
}

// TestLlama2C: the tiny-llama fixture exported to llama2.c's layouts (Meta
// RoPE row order, untied head) loads back to the reference logits, which
// checks the Wq/Wk permutation and both file versions.
func TestLlama2C(t *testing.T) {
	dir := testutil.Shared(t, "fixtures", "tiny-llama")
	w, _, err := safetensors.ReadAll(dir + "/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ref := testutil.Fixture(t, "tiny-llama", "reference.safetensors")
	in := testutil.Get(t, ref, "logits")
	ids := fixtureIDs(t, dir)
	for _, version := range []int{0, 1} {
		data := toLlama2C(t, w, version)
		m, err := fromLlama2C(data, "tiny-llama.bin")
		if err != nil {
			t.Fatalf("version %d: %v", version, err)
		}
		if m.Config().Tied() {
			t.Errorf("version %d: head should be untied", version)
		}
		logits := m.Forward(ids, 2, 16)
		testutil.AllClose(t, "logits", logits, in.F, 0, 2e-6)
		if _, err := fromLlama2C(data[:len(data)-4], "short.bin"); err == nil {
			t.Errorf("version %d: truncated file loaded", version)
		}
		if _, err := fromLlama2C(append(data, 0, 0, 0, 0), "long.bin"); err == nil {
			t.Errorf("version %d: file with trailing data loaded", version)
		}
	}
}
