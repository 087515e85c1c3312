package model

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tensor"
)

// TestGGUFQuantBase loads GGUF files written as Q8_0 and Q4_K with a
// quantized base: every matrix stays in the file's type (a Q8_0 file asked
// for q4_k stays Q8_0: nothing is requantized), its values are exactly
// those of the file dequantized (so llama's q/k rows moved as whole quantized
// rows, GPT-2's [out, in] kept), Forward equals the dequantized float32
// model's, and the int8 decode steps are within their error of Forward.
func TestGGUFQuantBase(t *testing.T) {
	for name, cfg := range map[string]*Config{
		"llama": {ModelType: "llama", VocabSize: 61, HiddenSize: 256, IntermediateSize: 288, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5},
		"gpt2": {ModelType: "gpt2", VocabSize: 61, NEmbd: 256, NLayer: 2, NHead: 4, NPositions: 64},
	} {
		for _, c := range []struct {
			file   gguf.Type
			asked  string
			stored tensor.DType
		}{{gguf.Q4_K, "q4_k", tensor.Q4_K}, {gguf.Q8_0, "q4_k", tensor.Q8_0}, {gguf.Q4_K, "q8_0", tensor.Q4_K}} {
			t.Run(name+"/"+c.file.String()+"-as-"+c.asked, func(t *testing.T) {
				m, err := NewRandom(cfg, 3)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "m.gguf")
				if err := SaveGGUF(m, path, "test", c.file, nil); err != nil {
					t.Fatal(err)
				}
				mf, err := LoadWith(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				mq, err := LoadWith(path, Options{BaseDType: c.asked})
				if err != nil {
					t.Fatal(err)
				}
				pf := mf.Params()
				for i, p := range mq.Params() {
					if len(p.W.Shape) != 2 || p.Name == "transformer.wpe.weight" {
						if p.W.IsHalf() {
							t.Errorf("%s kept in %v", p.Name, p.W.DType)
						}
						continue
					}
					want := c.stored
					if p.W.Shape[1]%c.stored.BlockSize() != 0 {
						want = tensor.Q8_0 // the 288-wide rows
					}
					if p.W.DType != want {
						t.Errorf("%s: %v, want %v", p.Name, p.W.DType, want)
						continue
					}
					if d := testutil.Compare(p.W.Float32(), testutil.To64(pf[i].W.Data), 0, 0); d.Bad > 0 {
						t.Errorf("%s: %v", p.Name, d)
					}
				}
				B, T := 2, 18 // a 17-token prefix: more rows than quantActRows
				r := testutil.NewRand(4)
				ids := make([]int, B*T)
				for i := range ids {
					ids[i] = r.IntN(cfg.VocabSize)
				}
				want := append([]float32(nil), mf.Forward(ids, B, T)...)
				got := mq.Forward(ids, B, T)
				testutil.AllClose(t, "logits", got, testutil.To64(want), 1e-4, 1e-4)

				// Decode the last token of row 0 after its prefix: int8
				// activations, within 3% of the logits' range (a Q4_K
				// prefix is prefilled through int8 activations too, as
				// llama.cpp does: its K/V add their error to the step's,
				// 0.7-2.2% here against 0.9-1.4% for the step alone).
				c := mq.NewCache(1, T)
				if _, err := mq.Step(c, [][]int{ids[:T-1]}); err != nil {
					t.Fatal(err)
				}
				step, err := mq.Step(c, [][]int{ids[T-1 : T]})
				if err != nil {
					t.Fatal(err)
				}
				last := want[(T-1)*cfg.VocabSize : T*cfg.VocabSize]
				scale := testutil.MaxAbs(last)
				for v := range last {
					if math.Abs(float64(step[v]-last[v])) > 0.03*float64(scale) {
						t.Fatalf("decode logit %d: %g, Forward %g (max |logit| %g)", v, step[v], last[v], scale)
					}
				}
			})
		}
	}
}

// TestGGUFQuantNaNScale: a Q8_0 block whose scale is NaN is refused by
// name when the base keeps the file's blocks.
func TestGGUFQuantNaNScale(t *testing.T) {
	_, path := q8GGUF(t, 61, 64, 96, 1)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := f.Raw("blk.0.ffn_up.weight")
	block := append([]byte(nil), raw[34*5:34*6]...)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	at := bytes.Index(data, block)
	if at < 0 || bytes.Count(data, block) != 1 {
		t.Fatal("block not found once in the file")
	}
	data[at], data[at+1] = 0x00, 0x7e // fp16 NaN
	os.WriteFile(path, data, 0o644)
	_, err = LoadWith(path, Options{BaseDType: "q8_0"})
	if err == nil || !strings.Contains(err.Error(), "blk.0.ffn_up.weight") || !strings.Contains(err.Error(), "block 5") {
		t.Errorf("NaN scale: %v", err)
	}
}

// TestGGUFAutoBaseDType: --base-dtype auto keeps a quantized GGUF file's
// type instead of widening it (q8_0 and q4_k files, and a Q4_K file with a
// Q6_K tensor as Q4_K_M files have, which becomes Q8_0, not Q4_K); a 16-bit
// file stays 16-bit and an F32 one float32.
func TestGGUFAutoBaseDType(t *testing.T) {
	cfg := &Config{ModelType: "llama", VocabSize: 61, HiddenSize: 256, IntermediateSize: 288, NumHiddenLayers: 1,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5}
	m, err := NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const q6 = "model.layers.0.self_attn.v_proj.weight"
	for _, c := range []struct {
		file     gguf.Type
		q6K      bool // blk.0.attn_v stored as Q6_K
		want     tensor.DType
		wantQ6   tensor.DType // v_proj's dtype under auto
		explicit string       // and under this --base-dtype
		wantExpl tensor.DType
	}{
		{gguf.F32, false, tensor.F32, tensor.F32, "", 0},
		{gguf.F16, false, tensor.F16, tensor.F16, "", 0},
		{gguf.Q8_0, false, tensor.Q8_0, tensor.Q8_0, "", 0},
		{gguf.Q4_K, false, tensor.Q4_K, tensor.Q4_K, "", 0},
		{gguf.Q4_K, true, tensor.Q4_K, tensor.Q8_0, "q4_k", tensor.Q4_K},
	} {
		name := c.file.String()
		if c.q6K {
			name += "+Q6_K"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".gguf")
			if err := SaveGGUF(m, path, "test", c.file, nil); err != nil {
				t.Fatal(err)
			}
			var q6vals []float32
			if c.q6K {
				q6vals = withQ6K(t, path, "blk.0.attn_v.weight")
			}
			ma, err := LoadWith(path, Options{BaseDType: "auto"})
			if err != nil {
				t.Fatal(err)
			}
			if got := BaseDTypeOf(ma); got != c.want {
				t.Errorf("auto: base dtype %v, want %v", got, c.want)
			}
			for _, p := range ma.Params() {
				want := c.want
				switch {
				case len(p.W.Shape) != 2:
					want = tensor.F32
				case p.Name == q6:
					want = c.wantQ6
				case want.BlockSize() > 1 && p.W.Shape[1]%want.BlockSize() != 0:
					want = tensor.Q8_0 // the 288-wide rows
				}
				if p.W.DType != want {
					t.Errorf("auto: %s in %v, want %v", p.Name, p.W.DType, want)
				}
				if p.Name == q6 && q6vals != nil {
					// Requantized to Q8_0: within half a step of its blocks.
					testutil.AllClose(t, q6, p.W.Float32(), testutil.To64(q6vals), 0, float64(testutil.MaxAbs(q6vals))/127)
				}
			}
			if c.explicit != "" {
				me, err := LoadWith(path, Options{BaseDType: c.explicit})
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range me.Params() {
					if p.Name == q6 && p.W.DType != c.wantExpl {
						t.Errorf("--base-dtype %s: %s in %v, want %v", c.explicit, q6, p.W.DType, c.wantExpl)
					}
				}
			}
		})
	}
}

// withQ6K rewrites the GGUF file at path with tensor name stored as Q6_K
// (random blocks with finite scales; golora writes no Q6_K) and returns
// its values.
func withQ6K(t *testing.T, path, name string) []float32 {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []gguf.WriteTensor
	var vals []float32
	for _, ti := range f.Tensors {
		raw, _, err := f.Raw(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		wt := gguf.WriteTensor{Name: ti.Name, Type: ti.Type, Shape: ti.Shape(), Data: func() ([]byte, error) { return raw, nil }}
		if ti.Name == name {
			r := testutil.NewRand(7)
			q := make([]byte, gguf.Q6_K.RowBytes(int(ti.Numel())))
			for i := range q {
				q[i] = byte(r.IntN(256))
			}
			for b := 210; b <= len(q); b += 210 { // d, the block's fp16 scale, is its last 2 bytes
				q[b-2], q[b-1] = byte(r.IntN(256)), 0x14 // 2^-6 .. 2^-5
			}
			vals = make([]float32, ti.Numel())
			if err := gguf.Dequantize(vals, q, gguf.Q6_K); err != nil {
				t.Fatal(err)
			}
			wt.Type, wt.Data = gguf.Q6_K, func() ([]byte, error) { return q, nil }
		}
		ts = append(ts, wt)
	}
	if vals == nil {
		t.Fatalf("%s: no tensor %s", path, name)
	}
	if err := gguf.Write(path, f.KVs, ts); err != nil {
		t.Fatal(err)
	}
	return vals
}

// TestGGUFLoadAllocatesOneModel: loading a GGUF file builds one model (a
// second one's float32 arena, made only to list the expected tensors,
// doubled the peak RSS of a quantized 1.2 B load when the runtime reused
// and zeroed it).
func TestGGUFLoadAllocatesOneModel(t *testing.T) {
	m, path := q8GGUF(t, 4096, 256, 512, 2)
	f32 := uint64(0)
	for _, p := range m.Params() {
		f32 += 4 * uint64(len(p.W.Data))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := LoadWith(path, Options{BaseDType: "q8_0"}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// One float32 arena (never touched for quantized weights) plus the
	// 8.5-bit blocks: well under 1.6 float32 models.
	if got := after.TotalAlloc - before.TotalAlloc; got > f32*8/5 {
		t.Errorf("loading allocated %d bytes, %.2f float32 models", got, float64(got)/float64(f32))
	}
}

// q8GGUF saves a random Llama of the given shape (4 heads, 2 KV heads) as
// a Q8_0 GGUF file and returns the model and the file.
func q8GGUF(t *testing.T, vocab, hidden, inter, layers int) (Model, string) {
	t.Helper()
	cfg := &Config{ModelType: "llama", VocabSize: vocab, HiddenSize: hidden, IntermediateSize: inter, NumHiddenLayers: layers,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-5}
	m, err := NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := SaveGGUF(m, path, "test", gguf.Q8_0, nil); err != nil {
		t.Fatal(err)
	}
	return m, path
}
