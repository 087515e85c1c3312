package gguf

import (
	"bytes"
	"math"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReferenceFile reads a file written by tools/ggufref/gen.py, an
// independent numpy writer following gguf-py's format: every metadata type,
// Q8_0/Q4_0 bytes from llama.cpp's reference quantizer formulas (ours must
// produce the same bytes), and random blocks of the other types with their
// float64 dequantization.
func TestReferenceFile(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "ref-quant.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]any{
		"general.architecture": "test", "t.u8": uint8(200), "t.i8": int8(-100), "t.u16": uint16(60000),
		"t.i16": int16(-30000), "t.u32": uint32(4000000000), "t.i32": int32(-2000000000), "t.f32": float32(0.5),
		"t.bool": true, "t.str": " ▁spaced\n ", "t.u64": uint64(1<<63 + 5), "t.i64": int64(-1 << 62), "t.f64": 0.1,
		"t.arr.str": []string{"a", "", "Ġb c"}, "t.arr.i32": []int32{1, -2, 3}, "t.arr.f32": []float32{0.25, -1},
		"t.arr.u8": []uint8{}, "t.arr.bool": []bool{true, false},
	}
	for k, v := range want {
		got, ok := f.Get(k)
		if !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	x, err := f.Float32("x")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		typ  Type
	}{{"x.q8_0", Q8_0}, {"x.q4_0", Q4_0}, {"x.f16", F16}, {"x.bf16", BF16}} {
		raw, ti, err := f.Raw(c.name)
		if err != nil || ti.Type != c.typ {
			t.Fatalf("%s: %v %v", c.name, ti.Type, err)
		}
		mine, err := Quantize(x.Data, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mine, raw) {
			t.Errorf("%s: Quantize differs from the reference bytes", c.name)
		}
	}
	for _, typ := range []string{"Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"} {
		got, err := f.Float32("r." + typ)
		if err != nil {
			t.Fatal(err)
		}
		exp, err := f.Float32("r." + typ + ".expected")
		if err != nil {
			t.Fatal(err)
		}
		for i := range got.Data {
			if d := math.Abs(float64(got.Data[i] - exp.Data[i])); d > 1e-6*(1+math.Abs(float64(exp.Data[i]))) {
				t.Fatalf("%s element %d: %g, reference %g", typ, i, got.Data[i], exp.Data[i])
			}
		}
	}
}
