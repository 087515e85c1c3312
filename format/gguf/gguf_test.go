package gguf

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/golora/golora/tensor"
)

func randFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// f16 reads an fp16 field as float64.
func f16(b []byte) float64 { return float64(tensor.F16ToF32(binary.LittleEndian.Uint16(b))) }

// naive is a per-element float64 reading of llama.cpp's block formulas,
// written independently of Dequantize's block loops.
func naive(t Type, blk []byte, e int) float64 {
	switch t {
	case Q8_0:
		return f16(blk) * float64(int8(blk[2+e]))
	case Q4_0:
		q := blk[2+e%16]
		if e >= 16 {
			q >>= 4
		}
		return f16(blk) * (float64(q&15) - 8)
	case Q4_1:
		q := blk[4+e%16]
		if e >= 16 {
			q >>= 4
		}
		return f16(blk)*float64(q&15) + f16(blk[2:])
	case Q5_0, Q5_1:
		base := 2
		if t == Q5_1 {
			base = 4
		}
		qh := binary.LittleEndian.Uint32(blk[base:])
		q := blk[base+4+e%16]
		if e >= 16 {
			q >>= 4
		}
		v := float64(uint32(q&15) | (qh>>e&1)<<4)
		if t == Q5_0 {
			return f16(blk) * (v - 16)
		}
		return f16(blk)*v + f16(blk[2:])
	case Q4_K, Q5_K:
		sub, l := e/32, e%32
		var sc, m int
		s := blk[4:16]
		if sub < 4 {
			sc, m = int(s[sub]&63), int(s[sub+4]&63)
		} else {
			sc = int(s[sub+4]&15) | int(s[sub-4]>>6)<<4
			m = int(s[sub+4]>>4) | int(s[sub]>>6)<<4
		}
		qs := blk[16:]
		if t == Q5_K {
			qs = blk[48:]
		}
		q := int(qs[32*(sub/2)+l])
		if sub%2 == 1 {
			q >>= 4
		}
		q &= 15
		if t == Q5_K && blk[16+l]>>sub&1 == 1 {
			q += 16
		}
		return f16(blk)*float64(sc)*float64(q) - f16(blk[2:])*float64(m)
	case Q6_K:
		n, r := e/128, e%128
		quarter, l := r/32, r%32
		lb := blk[64*n+l+32*(quarter&1)]
		if quarter >= 2 {
			lb >>= 4
		}
		hb := blk[128+32*n+l] >> (2 * quarter) & 3
		q := int(lb&15|hb<<4) - 32
		sc := int8(blk[192+8*n+l/16+2*quarter])
		return f16(blk[208:]) * float64(sc) * float64(q)
	}
	panic(t)
}

// randBlocks fills n blocks of t with random bytes, with sane fp16 scales.
func randBlocks(r *rand.Rand, t Type, n int) []byte {
	b := make([]byte, n*t.BlockBytes())
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for i := 0; i < n; i++ {
		blk := b[i*t.BlockBytes():]
		put := func(off int) {
			binary.LittleEndian.PutUint16(blk[off:], tensor.F32ToF16(float32(r.NormFloat64()*0.05)))
		}
		switch t {
		case Q6_K:
			put(208)
		case Q4_1, Q5_1, Q4_K, Q5_K:
			put(0)
			put(2)
		default:
			put(0)
		}
	}
	return b
}

func TestDequantizeMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []Type{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K} {
		nb := 7 // an odd number of blocks
		src := randBlocks(r, typ, nb)
		dst := make([]float32, nb*typ.BlockSize())
		if err := Dequantize(dst, src, typ); err != nil {
			t.Fatal(err)
		}
		for i, got := range dst {
			bs := typ.BlockSize()
			want := naive(typ, src[i/bs*typ.BlockBytes():], i%bs)
			if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("%s element %d: %g, naive %g", typ, i, got, want)
			}
		}
	}
}

func TestQuantizeReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randFloats(r, 5*256)
	x[7] = 0 // zero blocks and extremes must survive
	for i := 256; i < 288; i++ {
		x[i] = 0
	}
	for _, c := range []struct {
		typ Type
		rms float64 // relative RMS error bound
	}{{F32, 0}, {F16, 1e-3}, {BF16, 5e-3}, {Q8_0, 0.01}, {Q4_0, 0.12}, {Q4_K, 0.1}} {
		b, err := Quantize(x, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(y, b, c.typ); err != nil {
			t.Fatal(err)
		}
		var se, sx float64
		for i := range x {
			d := float64(y[i] - x[i])
			se += d * d
			sx += float64(x[i]) * float64(x[i])
		}
		if rel := math.Sqrt(se / sx); rel > c.rms {
			t.Errorf("%s: relative RMS error %.4f > %.4f", c.typ, rel, c.rms)
		}
		for i := 256; i < 288; i++ {
			if y[i] != 0 {
				t.Errorf("%s: zero element %d became %g", c.typ, i, y[i])
				break
			}
		}
		// Q8_0 and Q4_0 follow llama.cpp's reference rounding exactly.
		switch c.typ {
		case Q8_0, Q4_0:
			for blk := 0; blk < len(x)/32; blk++ {
				xs := x[32*blk : 32*blk+32]
				var amax, mx float64
				for _, v := range xs {
					if math.Abs(float64(v)) > amax {
						amax, mx = math.Abs(float64(v)), float64(v)
					}
				}
				bb := b[blk*c.typ.BlockBytes():]
				for j, v := range xs {
					var want float64
					if c.typ == Q8_0 {
						d := float32(amax / 127)
						if d != 0 {
							want = math.Round(float64(v * (1 / d)))
						}
						if got := float64(int8(bb[2+j])); got != want {
							t.Fatalf("Q8_0 block %d elem %d: q %g, reference %g", blk, j, got, want)
						}
					} else {
						d, id := float32(mx/-8), float32(0)
						if d != 0 {
							id = 1 / d
						}
						want = math.Min(15, math.Trunc(float64(v*id+8.5)))
						q := bb[2+j%16]
						if j >= 16 {
							q >>= 4
						}
						if float64(q&15) != want {
							t.Fatalf("Q4_0 block %d elem %d: q %d, reference %g", blk, j, q&15, want)
						}
					}
				}
			}
		}
	}
	if _, err := Quantize(x[:100], Q8_0); err == nil {
		t.Error("Quantize accepted 100 elements for Q8_0")
	}
	if _, err := Quantize(x, Q6_K); err == nil {
		t.Error("Quantize claims to write Q6_K")
	}
}

var allKVs = []KV{
	{"general.architecture", "llama"},
	{"u8", uint8(7)}, {"i8", int8(-7)}, {"u16", uint16(65535)}, {"i16", int16(-300)},
	{"u32", uint32(1 << 31)}, {"i32", int32(-5)}, {"f32", float32(1.5)}, {"bool", true},
	{"str", " leading and trailing space "}, {"u64", uint64(1 << 40)}, {"i64", int64(-1 << 40)}, {"f64", math.Pi},
	{"a.u8", []uint8{1, 2}}, {"a.i8", []int8{-1}}, {"a.u16", []uint16{}}, {"a.i16", []int16{-2, 3}},
	{"a.u32", []uint32{4}}, {"a.i32", []int32{-4, 5}}, {"a.f32", []float32{0.25}}, {"a.bool", []bool{true, false}},
	{"a.str", []string{"", " ", "▁x", "<0x0A>"}}, {"a.u64", []uint64{9}}, {"a.i64", []int64{-9}}, {"a.f64", []float64{2.5}},
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	path := filepath.Join(dir, "x.gguf")
	shapes := map[Type][]int{F32: {3, 5}, F16: {7}, BF16: {2, 3, 3}, Q8_0: {3, 96}, Q4_0: {1, 32}, Q4_K: {3, 512}}
	var ws []WriteTensor
	want := map[string][]float32{}
	for _, typ := range []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_K} {
		x := randFloats(r, tensor.Numel(shapes[typ]))
		b, err := Quantize(x, typ)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		Dequantize(y, b, typ)
		name := "t." + typ.String()
		want[name] = y
		ws = append(ws, WriteTensor{Name: name, Type: typ, Shape: shapes[typ], Data: func() ([]byte, error) { return b, nil }})
	}
	if err := Write(path, allKVs, ws); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Version != 3 || !reflect.DeepEqual(f.KVs, allKVs) {
		t.Fatalf("metadata differs:\n%#v\n%#v", f.KVs, allKVs)
	}
	if s, _ := f.String("str"); s != " leading and trailing space " {
		t.Errorf("string %q", s)
	}
	if n, ok := f.Int("u64"); !ok || n != 1<<40 {
		t.Errorf("Int(u64) = %d %v", n, ok)
	}
	for i, ti := range f.Tensors {
		if ti.Name != ws[i].Name || !reflect.DeepEqual(ti.Shape(), ws[i].Shape) || ti.Type != ws[i].Type || ti.Offset%32 != 0 {
			t.Errorf("tensor %d: %+v", i, ti)
		}
		got, err := f.Float32(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Data, want[ti.Name]) {
			t.Errorf("%s: data differs", ti.Name)
		}
	}
	// Overwriting is atomic and leaves no temporary files.
	if err := Write(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("%d entries in the output folder", len(es))
	}
}

func TestWriteRefuses(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.gguf")
	data := func() ([]byte, error) { return make([]byte, 34), nil }
	for name, c := range map[string]struct {
		kvs []KV
		ts  []WriteTensor
	}{
		"dup key":    {[]KV{{"a", uint8(1)}, {"a", uint8(2)}}, nil},
		"bad value":  {[]KV{{"a", 3}}, nil},
		"alignment":  {[]KV{{"general.alignment", uint32(3)}}, nil},
		"dup tensor": {nil, []WriteTensor{{"t", Q8_0, []int{32}, data}, {"t", Q8_0, []int{32}, data}}},
		"odd row":    {nil, []WriteTensor{{"t", Q8_0, []int{2, 31}, data}}},
		"bad size":   {nil, []WriteTensor{{"t", Q8_0, []int{2, 32}, data}}},
	} {
		if err := Write(p, c.kvs, c.ts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("a refused write left a file")
	}
}

// header builds a GGUF header by hand for the error tests.
type hb struct{ b []byte }

func (h *hb) u32(v uint32) *hb { h.b = binary.LittleEndian.AppendUint32(h.b, v); return h }
func (h *hb) u64(v uint64) *hb { h.b = binary.LittleEndian.AppendUint64(h.b, v); return h }
func (h *hb) str(s string) *hb { h.u64(uint64(len(s))); h.b = append(h.b, s...); return h }
func start(nt, nkv uint64) *hb { h := &hb{b: []byte("GGUF")}; return h.u32(3).u64(nt).u64(nkv) }

func TestOpenErrors(t *testing.T) {
	tensor1 := func(typ uint32, dims []uint64, off uint64) *hb {
		h := start(1, 0).str("blk.0.attn_q.weight").u32(uint32(len(dims)))
		for _, d := range dims {
			h.u64(d)
		}
		h.u32(typ).u64(off)
		for len(h.b)%32 != 0 {
			h.b = append(h.b, 0)
		}
		return h
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
		is   error
	}{
		{"magic", []byte("GGML\x03\x00\x00\x00"), "magic", ErrFormat},
		{"version", start(0, 0).b[:8], "", ErrTruncated},
		{"v1", append([]byte("GGUF"), 1, 0, 0, 0), "version 1", ErrFormat},
		{"big endian", append([]byte("GGUF"), 0, 0, 0, 3), "big-endian", ErrFormat},
		{"kv count", start(0, 1<<60).b, "metadata pairs", ErrTruncated},
		{"tensor count", start(1<<60, 0).b, "tensor infos", ErrTruncated},
		{"string length", start(0, 1).u64(1 << 62).u64(0).u64(0).b, "need", ErrTruncated},
		{"value type", start(0, 1).str("k").u32(99).b, "value type 99", ErrType},
		{"array count", start(0, 1).str("k").u32(tArray).u32(tU32).u64(1 << 40).b, "array of", ErrTruncated},
		{"nested", start(0, 1).str("k").u32(tArray).u32(tArray).u64(1).b, "nested", ErrType},
		{"dup key", start(0, 2).str("k").u32(tU8).u32(0).str("k").u32(tU8).b[:0], "", nil},
		{"alignment", start(0, 1).str("general.alignment").u32(tU32).u32(24).b, "power of two", ErrFormat},
		{"ggml type", tensor1(77, []uint64{32}, 0).b, "ggml type 77", ErrType},
		{"block", tensor1(uint32(Q8_0), []uint64{33}, 0).b, "multiple", ErrFormat},
		{"dims", tensor1(0, []uint64{1, 1, 1, 1, 1}, 0).b, "dimensions", ErrFormat},
		{"overflow", tensor1(0, []uint64{1 << 32, 1 << 32}, 0).b, "overflow", ErrFormat},
		{"past end", tensor1(0, []uint64{4}, 0).b, "past the end", ErrTruncated},
		{"misaligned", tensor1(0, []uint64{4}, 3).b, "aligned", ErrFormat},
	} {
		if len(c.data) == 0 {
			continue
		}
		_, err := FromBytes("bad.gguf", c.data)
		var ge *Error
		if err == nil || !errors.As(err, &ge) || !strings.Contains(err.Error(), "bad.gguf") || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: error %v, want one naming the file and %q (%v)", c.name, err, c.want, c.is)
		}
		if c.name == "ggml type" && !strings.Contains(err.Error(), "blk.0.attn_q.weight") {
			t.Errorf("error does not name the tensor: %v", err)
		}
	}
	dup := start(0, 2).str("k").u32(tU8)
	dup.b = append(dup.b, 0)
	dup.str("k").u32(tU8)
	dup.b = append(dup.b, 0)
	if _, err := FromBytes("d.gguf", dup.b); err == nil || !strings.Contains(err.Error(), "duplicate key") {
		t.Errorf("duplicate key: %v", err)
	}
}
