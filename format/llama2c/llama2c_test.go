package llama2c

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/internal/testutil"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/tensor"
)

func storiesPath(t testing.TB) string {
	return testutil.Shared(t, "models", "stories260K", "stories260K.bin")
}

func TestReadStories260K(t *testing.T) {
	ck, err := Read(storiesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if ck.Config != want {
		t.Fatalf("config %+v, want %+v", ck.Config, want)
	}
	if n := ck.NumParams(); n != 260032 {
		t.Errorf("NumParams = %d, want 260032", n)
	}
	if ck.Wcls != nil {
		t.Error("shared classifier loaded a separate Wcls")
	}
	hf := ck.HFTensors()
	if len(hf) != 2+5*9 {
		t.Errorf("%d HF tensors, want 47", len(hf))
	}
	if _, ok := hf["lm_head.weight"]; ok {
		t.Error("lm_head.weight present for a shared classifier")
	}
	var total int
	shapes := ck.HFShapes()
	for n, tt := range hf {
		total += len(tt.Data)
		if !tensor.SameShape(shapes[n], tt.Shape) {
			t.Errorf("HFShapes()[%q] = %v, tensor has %v", n, shapes[n], tt.Shape)
		}
	}
	if len(shapes) != len(hf) {
		t.Errorf("HFShapes has %d entries, HFTensors %d", len(shapes), len(hf))
	}
	if total != 260032 {
		t.Errorf("HF tensors hold %d params, want 260032", total)
	}
	for name, shape := range map[string][]int{
		"model.embed_tokens.weight":                      []int{512, 64},
		"model.layers.4.self_attn.q_proj.weight":         []int{64, 64},
		"model.layers.0.self_attn.k_proj.weight":         []int{32, 64},
		"model.layers.2.mlp.down_proj.weight":            []int{64, 172},
		"model.layers.2.mlp.up_proj.weight":              []int{172, 64},
		"model.layers.1.post_attention_layernorm.weight": []int{64},
	} {
		if tt := hf[name]; tt == nil || !tensor.SameShape(tt.Shape, shape) {
			t.Errorf("%s: %v, want shape %v", name, tt, shape)
		}
	}
	cfg := ck.HFConfig()
	js, _ := json.Marshal(cfg)
	var m map[string]any
	json.Unmarshal(js, &m)
	for k, v := range map[string]any{"model_type": "llama", "hidden_size": 64.0, "intermediate_size": 172.0,
		"num_attention_heads": 8.0, "num_key_value_heads": 4.0, "num_hidden_layers": 5.0, "vocab_size": 512.0,
		"max_position_embeddings": 512.0, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true} {
		if m[k] != v {
			t.Errorf("config.json %s = %v, want %v", k, m[k], v)
		}
	}
}

// TestLogitsMatchRunC runs the 5-token prompt through a minimal float64
// forward pass twice, once on the raw weights with llama2.c's interleaved
// RoPE and once on HFTensors with HF's rotate_half, and compares both with
// the logits run.c printed. Agreement of the second proves the Wq/Wk
// permutation (and the whole tensor layout) on a real trained model.
func TestLogitsMatchRunC(t *testing.T) {
	ck, err := Read(storiesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	ref := struct{ Rows []testutil.StoriesRow }{testutil.StoriesLogits(t)}
	var tokens []int
	for _, r := range ref.Rows {
		tokens = append(tokens, r.InputToken)
	}
	hf := ck.HFTensors()
	wq := func(l int) []float32 { return ck.Wq.Index(l).Data }
	wk := func(l int) []float32 { return ck.Wk.Index(l).Data }
	hq := func(l int) []float32 { return hf[layerName(l, "self_attn.q_proj.weight")].Data }
	hk := func(l int) []float32 { return hf[layerName(l, "self_attn.k_proj.weight")].Data }
	for _, c := range []struct {
		name        string
		q, k        func(int) []float32
		interleaved bool
		wantMatch   bool
	}{
		{"llama2.c layout, interleaved RoPE", wq, wk, true, true},
		{"HF layout, rotate_half RoPE", hq, hk, false, true},
		{"HF layout, interleaved RoPE (wrong)", hq, hk, true, false},
	} {
		logits := forward(ck, tokens, c.q, c.k, c.interleaved)
		var worst float64
		for p, r := range ref.Rows {
			for i, v := range r.Logits {
				worst = max(worst, math.Abs(logits[p][i]-v))
			}
		}
		if c.wantMatch && worst > 1e-4 {
			t.Errorf("%s: max |logit - run.c| = %g", c.name, worst)
		}
		if !c.wantMatch && worst < 1e-3 {
			t.Errorf("%s: matched run.c (%g); the test cannot tell RoPE conventions apart", c.name, worst)
		}
		t.Logf("%s: max |logit - run.c| = %.3g", c.name, worst)
	}
}

func layerName(l int, s string) string {
	return "model.layers." + string(rune('0'+l)) + "." + s
}

// forward is a float64 reference forward over a prompt (llama2.c run.c's
// math); q and k give each layer's Wq/Wk, interleaved picks the RoPE pairs.
func forward(ck *Checkpoint, tokens []int, wq, wk func(int) []float32, interleaved bool) [][]float64 {
	c := ck.Config
	D, H, hd, kvd := c.Dim, c.HiddenDim, c.HeadDim(), c.KVDim()
	T := len(tokens)
	matvec := func(w []float32, x []float64, rows int) []float64 {
		cols := len(x)
		out := make([]float64, rows)
		for r := range rows {
			var s float64
			for j, xv := range x {
				s += float64(w[r*cols+j]) * xv
			}
			out[r] = s
		}
		return out
	}
	rmsnorm := func(x []float64, w []float32) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+1e-5)
		out := make([]float64, len(x))
		for i := range x {
			out[i] = x[i] * inv * float64(w[i])
		}
		return out
	}
	rope := func(v []float64, pos int) {
		for h := 0; h < len(v)/hd; h++ {
			for j := range hd / 2 {
				a := float64(pos) * math.Pow(10000, -float64(2*j)/float64(hd))
				i0, i1 := h*hd+2*j, h*hd+2*j+1
				if !interleaved {
					i0, i1 = h*hd+j, h*hd+j+hd/2
				}
				x0, x1 := v[i0], v[i1]
				v[i0] = x0*math.Cos(a) - x1*math.Sin(a)
				v[i1] = x0*math.Sin(a) + x1*math.Cos(a)
			}
		}
	}
	xs := make([][]float64, T)
	for p, tok := range tokens {
		xs[p] = make([]float64, D)
		for i := range D {
			xs[p][i] = float64(ck.TokenEmbedding.Data[tok*D+i])
		}
	}
	for l := range c.NLayers {
		ks, vs := make([][]float64, T), make([][]float64, T)
		qs := make([][]float64, T)
		for p := range T {
			xb := rmsnorm(xs[p], ck.RMSAtt.Index(l).Data)
			qs[p], ks[p], vs[p] = matvec(wq(l), xb, D), matvec(wk(l), xb, kvd), matvec(ck.Wv.Index(l).Data, xb, kvd)
			rope(qs[p], p)
			rope(ks[p], p)
		}
		for p := range T {
			att := make([]float64, D)
			for h := range c.NHeads {
				kh := h / (c.NHeads / c.NKVHeads)
				scores := make([]float64, p+1)
				mx := math.Inf(-1)
				for s := 0; s <= p; s++ {
					var d float64
					for i := range hd {
						d += qs[p][h*hd+i] * ks[s][kh*hd+i]
					}
					scores[s] = d / math.Sqrt(float64(hd))
					mx = max(mx, scores[s])
				}
				var sum float64
				for s := range scores {
					scores[s] = math.Exp(scores[s] - mx)
					sum += scores[s]
				}
				for s := range scores {
					for i := range hd {
						att[h*hd+i] += scores[s] / sum * vs[s][kh*hd+i]
					}
				}
			}
			o := matvec(ck.Wo.Index(l).Data, att, D)
			for i := range D {
				xs[p][i] += o[i]
			}
			xb := rmsnorm(xs[p], ck.RMSFFN.Index(l).Data)
			g, u := matvec(ck.W1.Index(l).Data, xb, H), matvec(ck.W3.Index(l).Data, xb, H)
			for i := range H {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := matvec(ck.W2.Index(l).Data, g, D)
			for i := range D {
				xs[p][i] += d[i]
			}
		}
	}
	out := make([][]float64, T)
	cls := ck.TokenEmbedding.Data
	if !c.SharedClassifier {
		cls = ck.Wcls.Data
	}
	for p := range T {
		out[p] = matvec(cls, rmsnorm(xs[p], ck.RMSFinal.Data), c.VocabSize)
	}
	return out
}

func TestPermutation(t *testing.T) {
	for _, hd := range []int{2, 4, 8, 16, 128} {
		nHeads := 3
		seen := make([]bool, nHeads*hd)
		for r := range nHeads * hd {
			m := HFRow(r, hd)
			// The documented formula, computed independently.
			h, half, j := r/hd, (r%hd)/(hd/2), r%(hd/2)
			if m != h*hd+2*j+half {
				t.Fatalf("hd %d: HFRow(%d) = %d", hd, r, m)
			}
			if m < 0 || m >= nHeads*hd || seen[m] {
				t.Fatalf("hd %d: HFRow is not a bijection at %d -> %d", hd, r, m)
			}
			seen[m] = true
		}
		cols := 5
		w := make([]float32, nHeads*hd*cols)
		for i := range w {
			w[i] = float32(i)
		}
		p := PermuteToHF(w, nHeads, hd, cols)
		for r := range nHeads * hd {
			for c := range cols {
				if p[r*cols+c] != w[HFRow(r, hd)*cols+c] {
					t.Fatalf("PermuteToHF row %d", r)
				}
			}
		}
		back := PermuteFromHF(p, nHeads, hd, cols)
		for i := range w {
			if back[i] != w[i] {
				t.Fatalf("PermuteFromHF(PermuteToHF(w)) differs at %d", i)
			}
		}
	}
}

func randCheckpoint(r *rand.Rand, c Config) *Checkpoint {
	ck := &Checkpoint{Config: c}
	for _, f := range ck.fields() {
		*f.t = tensor.New(f.shape...)
	}
	if !c.SharedClassifier {
		ck.Wcls = tensor.New(c.VocabSize, c.Dim)
	}
	for _, f := range ck.fields() {
		for i := range (*f.t).Data {
			(*f.t).Data[i] = float32(r.NormFloat64())
		}
	}
	if ck.Wcls != nil {
		for i := range ck.Wcls.Data {
			ck.Wcls.Data[i] = float32(r.NormFloat64())
		}
	}
	return ck
}

func TestWriteReadRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		shared  bool
		version int
	}{{true, 0}, {false, 0}, {true, 1}, {false, 1}} {
		shared := tc.shared
		c := Config{Dim: 16, HiddenDim: 24, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 11, SeqLen: 8, SharedClassifier: shared, Version: tc.version}
		ck := randCheckpoint(r, c)
		path := filepath.Join(t.TempDir(), "m.bin")
		if err := Write(path, ck); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config != c {
			t.Fatalf("config %+v, want %+v", got.Config, c)
		}
		hfA, hfB := ck.HFTensors(), got.HFTensors()
		if len(hfA) != len(hfB) {
			t.Fatalf("%d vs %d tensors", len(hfA), len(hfB))
		}
		for n, a := range hfA {
			for i := range a.Data {
				if math.Float32bits(a.Data[i]) != math.Float32bits(hfB[n].Data[i]) {
					t.Fatalf("shared=%v %s[%d] differs", shared, n, i)
				}
			}
		}
		_, hasHead := hfA["lm_head.weight"]
		if hasHead == shared {
			t.Errorf("shared=%v: lm_head present = %v", shared, hasHead)
		}
		// FromHF inverts HFTensors exactly.
		back, err := FromHF(c, hfA)
		if err != nil {
			t.Fatal(err)
		}
		if back.SharedClassifier != shared || !equal(back.Wq, ck.Wq) || !equal(back.Wk, ck.Wk) || !equal(back.W2, ck.W2) {
			t.Errorf("shared=%v: FromHF(HFTensors()) differs", shared)
		}
		delete(hfA, "model.layers.1.mlp.up_proj.weight")
		if _, err := FromHF(c, hfA); err == nil {
			t.Error("FromHF accepted a missing tensor")
		}
	}
}

func equal(a, b *tensor.Tensor) bool {
	if !tensor.SameShape(a.Shape, b.Shape) {
		return false
	}
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			return false
		}
	}
	return true
}

func TestCorrupt(t *testing.T) {
	orig, err := os.ReadFile(storiesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	header := func(h ...int32) []byte {
		b := make([]byte, 0, 28)
		for _, v := range h {
			b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		}
		return b
	}
	withHeader := func(h []byte) []byte { return append(h, orig[28:]...) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"header only partly", orig[:20], ErrTruncated},
		{"header only", orig[:28], ErrTruncated},
		{"truncated by one float", orig[:len(orig)-4], ErrTruncated},
		{"truncated by one byte", orig[:len(orig)-1], ErrTruncated},
		{"half file", orig[:len(orig)/2], ErrTruncated},
		{"trailing bytes", append(append([]byte(nil), orig...), 0, 0, 0, 0), ErrTrailing},
		{"negative vocab needs wcls", withHeader(header(64, 172, 5, 8, 4, -512, 512)), ErrTruncated},
		{"zero dim", withHeader(header(0, 172, 5, 8, 4, 512, 512)), ErrHeader},
		{"negative layers", withHeader(header(64, 172, -5, 8, 4, 512, 512)), ErrHeader},
		{"heads do not divide dim", withHeader(header(64, 172, 5, 7, 7, 512, 512)), ErrHeader},
		{"kv heads do not divide heads", withHeader(header(64, 172, 5, 8, 3, 512, 512)), ErrHeader},
		{"more kv heads than heads", withHeader(header(64, 172, 5, 8, 16, 512, 512)), ErrHeader},
		{"odd head size", withHeader(header(63, 172, 5, 9, 9, 512, 512)), ErrHeader},
		{"huge sizes", withHeader(header(1<<30, 1<<30, 1<<30, 1, 1, 1<<30, 1<<30)), ErrHeader},
		{"large but valid sizes", withHeader(header(1<<14, 1<<16, 1<<10, 1<<7, 1<<7, 1<<16, 1<<16)), ErrTruncated},
		{"min int32 vocab", withHeader(header(64, 172, 5, 8, 4, math.MinInt32, 512)), ErrHeader},
		{"v2 (int8) export", withHeader(header(0x616b3432, 2, 64, 172, 5, 8, 4)), ErrFormat},
		{"v1 header cut short", header(0x616b3432, 1, 64, 172, 5, 8, 4), ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.bin")
			os.WriteFile(path, tc.data, 0o644)
			_, err := Read(path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, herr := ReadHeader(path); !errors.Is(herr, tc.want) {
				t.Errorf("ReadHeader err = %v, want %v", herr, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestFixtureLlamaRoundTrip converts the tiny-llama fixture (HF layout,
// untied head) to a llama2.c file and back: every tensor must come back
// bit-identical, and the file must carry a negative vocab size.
func TestFixtureLlamaRoundTrip(t *testing.T) {
	dir := testutil.Shared(t, "fixtures", "tiny-llama")
	var hc struct {
		Hidden, Inter, Layers, Heads, KV, Vocab, MaxPos int
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	num := func(k string) int { v, _ := m[k].(float64); return int(v) }
	hc.Hidden, hc.Inter, hc.Layers = num("hidden_size"), num("intermediate_size"), num("num_hidden_layers")
	hc.Heads, hc.KV, hc.Vocab, hc.MaxPos = num("num_attention_heads"), num("num_key_value_heads"), num("vocab_size"), num("max_position_embeddings")
	want, _, err := safetensors.ReadAll(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Dim: hc.Hidden, HiddenDim: hc.Inter, NLayers: hc.Layers, NHeads: hc.Heads, NKVHeads: hc.KV, VocabSize: hc.Vocab, SeqLen: hc.MaxPos}
	ck, err := FromHF(c, want)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny-llama.bin")
	if err := Write(path, ck); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if v := int32(binary.LittleEndian.Uint32(b[20:])); v != -int32(hc.Vocab) {
		t.Errorf("stored vocab_size %d, want %d (unshared classifier)", v, -hc.Vocab)
	}
	back, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	got := back.HFTensors()
	if len(got) != len(want) {
		t.Fatalf("%d tensors back, want %d", len(got), len(want))
	}
	for n, w := range want {
		g := got[n]
		if g == nil || !tensor.SameShape(g.Shape, w.Shape) {
			t.Fatalf("%s: got %v, want shape %v", n, g, w.Shape)
		}
		for i := range w.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Fatalf("%s[%d] differs", n, i)
			}
		}
	}
	// run.c's math (interleaved RoPE) on the converted file reproduces the
	// fixture's HF logits: FromHF's inverse permutation is right, not just
	// inverse to HFTensors.
	rf, err := safetensors.Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	ref, err := rf.Tensor("logits")
	if err != nil {
		t.Fatal(err)
	}
	toks := testutil.InputIDs(t, dir)[0]
	logits := forward(back, toks, func(l int) []float32 { return back.Wq.Index(l).Data },
		func(l int) []float32 { return back.Wk.Index(l).Data }, true)
	var worst float64
	for p := range toks {
		for i := range hc.Vocab {
			worst = max(worst, math.Abs(logits[p][i]-float64(ref.Data[p*hc.Vocab+i])))
		}
	}
	if worst > 2e-6 {
		t.Errorf("llama2.c forward of the converted fixture: max |logit - reference| = %g", worst)
	}
	t.Logf("llama2.c forward of converted tiny-llama: max |logit - reference| = %.3g", worst)
	// In llama2.c order Wq must differ from HF order (the permutation is real).
	if equal(tensor.From(back.Wq.Index(0).Data, hc.Hidden, hc.Hidden), want["model.layers.0.self_attn.q_proj.weight"]) {
		t.Error("Wq stored without the RoPE permutation")
	}
}

// TestVersion1: export version 1 holds the same weights as version 0 in
// another order, with a 256-byte header and no RoPE tables; both read back
// to the same model, and the header reads alone too.
func TestVersion1(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, shared := range []bool{true, false} {
		c := Config{Dim: 16, HiddenDim: 24, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 11, SeqLen: 8, SharedClassifier: shared}
		ck := randCheckpoint(r, c)
		dir := t.TempDir()
		v0, v1 := filepath.Join(dir, "v0.bin"), filepath.Join(dir, "v1.bin")
		if err := Write(v0, ck); err != nil {
			t.Fatal(err)
		}
		ck.Version = 1
		if err := Write(v1, ck); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(v1)
		if got := binary.LittleEndian.Uint32(b); got != 0x616b3432 || binary.LittleEndian.Uint32(b[4:]) != 1 || (b[36] != 0) != shared {
			t.Fatalf("shared=%v: v1 header %x", shared, b[:40])
		}
		if want := int64(HeaderSizeV1) + 4*c.NumParams(); int64(len(b)) != want {
			t.Errorf("v1 file has %d bytes, want %d (no RoPE tables)", len(b), want)
		}
		a, err0 := Read(v0)
		got, err1 := Read(v1)
		if err0 != nil || err1 != nil {
			t.Fatal(err0, err1)
		}
		if got.Version != 1 || a.Version != 0 {
			t.Errorf("versions read %d and %d", a.Version, got.Version)
		}
		hfA, hfB := a.HFTensors(), got.HFTensors()
		for n, x := range hfA {
			if !equal(x, hfB[n]) {
				t.Errorf("shared=%v: %s differs between v0 and v1", shared, n)
			}
		}
		if h, err := ReadHeader(v1); err != nil || h != got.Config {
			t.Errorf("ReadHeader(v1) = %+v, %v", h, err)
		}
		if err := os.WriteFile(v1, b[:len(b)-4], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(v1); !errors.Is(err, ErrTruncated) {
			t.Errorf("v1 short by a float: %v", err)
		}
	}
}
