package model

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// TestPackForDecodeOneCopy: making a cache packs a Q4_K base for decode and
// drops its GGUF blocks, so each weight is held once (the tied head's and
// the embedding's too), and everything that reads the blocks gives
// bit-identical results after generation to before it: Forward, training's
// loss and gradients (dx through every linear), and the checkpoints SaveHF
// and SaveGGUF write.
func TestPackForDecodeOneCopy(t *testing.T) {
	if !kernels.PackQ4KPays() {
		t.Skip("no kernel for packed Q4_K tiles on this CPU: nothing is packed")
	}
	cfg := &Config{ModelType: "llama", VocabSize: 61, HiddenSize: 256, IntermediateSize: 512, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5, TieWordEmbeddings: boolPtr(true)}
	m, err := NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := SaveGGUF(m, path, "test", gguf.Q4_K, nil); err != nil {
		t.Fatal(err)
	}
	mq, err := LoadWith(path, Options{BaseDType: "q4_k"})
	if err != nil {
		t.Fatal(err)
	}
	mq.SetTrainable(func(name string) bool { return strings.Contains(name, "norm") })
	B, T := 2, 7
	ids, targets := make([]int, B*T), make([]int, B*T)
	for i := range ids {
		ids[i], targets[i] = (7*i+3)%cfg.VocabSize, (5*i+1)%cfg.VocabSize
	}
	// run returns everything that reads the base's blocks, flattened.
	run := func(tag string) (floats [][]float32, files [][]byte) {
		floats = append(floats, slices.Clone(mq.Forward(ids, B, T)))
		mq.ZeroGrad()
		floats = append(floats, []float32{float32(mq.Loss(ids, targets, B, T))})
		mq.Backward()
		for _, p := range mq.Params() {
			if p.G != nil {
				floats = append(floats, slices.Clone(p.G.Data))
			}
		}
		hf := filepath.Join(dir, tag)
		if err := mq.SaveHF(hf); err != nil {
			t.Fatal(err)
		}
		g := filepath.Join(dir, tag+".gguf")
		if err := SaveGGUF(mq, g, "test", gguf.Q4_K, nil); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{filepath.Join(hf, "model.safetensors"), g} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		return floats, files
	}
	blocks := map[string][]byte{}
	for _, p := range mq.Params() {
		if p.W.DType == tensor.Q4_K {
			blocks[p.Name] = bytes.Clone(p.W.Quant)
		}
	}
	if len(blocks) != 2*7+1 {
		t.Fatalf("%d Q4_K weights, want the 14 linears and the embedding", len(blocks))
	}
	floats, files := run("before")
	if len(floats) < 2+2*2+1 {
		t.Fatalf("%d results: the norms' gradients are missing", len(floats))
	}

	c := mq.NewCache(1, T)
	for _, p := range mq.Params() {
		if want, ok := blocks[p.Name]; ok {
			if p.W.Quant != nil || p.W.Tiles == nil {
				t.Fatalf("%s: GGUF blocks still held after packing for decode", p.Name)
			}
			if !bytes.Equal(p.W.QuantRows(0, p.W.Shape[0]), want) {
				t.Fatalf("%s: the tiles do not give back the GGUF blocks", p.Name)
			}
		}
	}
	for i := range T {
		if _, err := mq.Step(c, [][]int{ids[i : i+1]}); err != nil {
			t.Fatal(err)
		}
	}

	floats2, files2 := run("after")
	for i := range floats {
		if !slices.Equal(floats[i], floats2[i]) {
			t.Fatalf("result %d (logits, loss, then gradients) differs after generation", i)
		}
	}
	for i := range files {
		if !bytes.Equal(files[i], files2[i]) {
			t.Fatalf("checkpoint %d (safetensors, GGUF) differs after generation", i)
		}
	}
}
