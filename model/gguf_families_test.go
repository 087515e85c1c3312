package model

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
)

// ggufFamilyNames is what llama.cpp calls each family's tensors and config
// keys, per its gguf-py/gguf/constants.py (MODEL_ARCH_NAMES, TENSOR_NAMES,
// MODEL_TENSORS[arch] and class Keys.LLM/Keys.Attention/Keys.Rope) and the
// writers in convert_hf_to_gguf.py (Qwen3Model derives from Qwen2Model:
// no q/k row permutation). "blk." tensors are listed once for layer 0..1.
var ggufFamilyNames = map[string]struct {
	arch    string
	tensors []string // without the .weight suffix; blk.* per layer
	keys    []string // after the "<arch>." prefix
}{
	"qwen3": {"qwen3",
		[]string{"token_embd", "output_norm", "blk.attn_norm", "blk.attn_q", "blk.attn_k", "blk.attn_v", "blk.attn_output",
			"blk.attn_q_norm", "blk.attn_k_norm", "blk.ffn_norm", "blk.ffn_gate", "blk.ffn_up", "blk.ffn_down"},
		[]string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
			"attention.head_count_kv", "attention.key_length", "attention.value_length", "rope.dimension_count",
			"rope.freq_base", "attention.layer_norm_rms_epsilon"}},
}

// TestGGUFFamilies exports each mapped family fixture (testdata/families,
// HF checkpoints with transformers' float64 reference logits) to GGUF,
// checks the file's tensor names and keys against llama.cpp's, and loads it
// back: F32 logits equal the safetensors model's bit for bit.
func TestGGUFFamilies(t *testing.T) {
	dir := t.TempDir()
	for fixture, want := range ggufFamilyNames {
		t.Run(fixture, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", "families", fixture))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, fixture+".gguf")
			if err := SaveGGUF(m, p, fixture, gguf.F32, nil); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var names, wantNames []string
			for _, ti := range f.Tensors {
				names = append(names, ti.Name)
			}
			for _, n := range want.tensors {
				if rest, ok := strings.CutPrefix(n, "blk."); ok {
					for l := range m.Config().NumHiddenLayers {
						wantNames = append(wantNames, "blk."+strconv.Itoa(l)+"."+rest+".weight")
					}
				} else {
					wantNames = append(wantNames, n+".weight")
				}
			}
			sort.Strings(names)
			sort.Strings(wantNames)
			if strings.Join(names, " ") != strings.Join(wantNames, " ") {
				t.Errorf("tensors\n got %v\nwant %v", names, wantNames)
			}
			if a, _ := f.String("general.architecture"); a != want.arch {
				t.Errorf("general.architecture %q, want %q", a, want.arch)
			}
			for _, k := range want.keys {
				if _, ok := f.Get(want.arch + "." + k); !ok {
					t.Errorf("no %s.%s", want.arch, k)
				}
			}
			f.Close()
			m2, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			ids := []int{1, 5, 9, 3, 7, 2, 8, 4, 6, 0, 11, 12, 100, 127}
			a, b := m.Forward(ids, 2, 7), m2.Forward(ids, 2, 7)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("logit %d: %g from safetensors, %g from GGUF", i, a[i], b[i])
				}
			}
		})
	}
}
