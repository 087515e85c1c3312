package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"github.com/golora/golora/internal/testutil"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golora/golora/tensor"
)

func randTensors(r *rand.Rand) map[string]*tensor.Tensor {
	m := map[string]*tensor.Tensor{
		"scalar":        tensor.New(),
		"empty":         tensor.New(0, 3),
		"a.weight":      tensor.New(7, 5),
		"b.bias":        tensor.New(11),
		"z.3d":          tensor.New(2, 3, 4),
		"unicode.é.名前":  tensor.New(3),
		`quote"back\sl`: tensor.New(1),
	}
	for _, t := range m {
		for i := range t.Data {
			t.Data[i] = float32(r.NormFloat64())
		}
	}
	m["a.weight"].Data[0] = float32(math.Inf(-1))
	m["a.weight"].Data[1] = math.Float32frombits(1) // smallest subnormal
	m["a.weight"].Data[2] = float32(math.Copysign(0, -1))
	m["a.weight"].Data[3] = math.MaxFloat32
	return m
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	want := randTensors(r)
	meta := map[string]string{"format": "pt", "note": "round trip"}
	for _, dtype := range []string{"F32", "F16", "BF16"} {
		for _, mmap := range []bool{true, false} {
			name := dtype
			if !mmap {
				name += "/pread"
			}
			t.Run(name, func(t *testing.T) {
				noMmap = !mmap
				defer func() { noMmap = false }()
				path := filepath.Join(t.TempDir(), "m.safetensors")
				if err := WriteDType(path, want, meta, dtype); err != nil {
					t.Fatal(err)
				}
				raw, _ := os.ReadFile(path)
				hlen := binary.LittleEndian.Uint64(raw)
				if hlen%8 != 0 {
					t.Errorf("header length %d not a multiple of 8", hlen)
				}
				f, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if (f.mapped != nil) != mmap {
					t.Errorf("mapped = %v, want %v", f.mapped != nil, mmap)
				}
				names := f.Names()
				if !slices.IsSorted(names) || len(names) != len(want) {
					t.Fatalf("names %v", names)
				}
				if got := f.Metadata(); got["format"] != "pt" || got["note"] != "round trip" || len(got) != 2 {
					t.Errorf("metadata %v", got)
				}
				var end int64
				for _, n := range names { // packed in name order, no gaps
					in, _ := f.Info(n)
					if in.Begin != end || in.DType != dtype {
						t.Errorf("%s: info %+v, want begin %d dtype %s", n, in, end, dtype)
					}
					end = in.End
				}
				if end != f.DataSize() {
					t.Errorf("data ends at %d, file data area is %d", end, f.DataSize())
				}
				for n, w := range want {
					got, err := f.Tensor(n)
					if err != nil {
						t.Fatal(err)
					}
					if !tensor.SameShape(got.Shape, w.Shape) {
						t.Fatalf("%s: shape %v want %v", n, got.Shape, w.Shape)
					}
					for i, v := range w.Data {
						var exp uint32
						switch dtype {
						case "F32":
							exp = math.Float32bits(v)
						case "BF16":
							exp = math.Float32bits(tensor.BF16ToF32(tensor.F32ToBF16(v)))
						case "F16":
							exp = math.Float32bits(tensor.F16ToF32(tensor.F32ToF16(v)))
						}
						if math.Float32bits(got.Data[i]) != exp {
							t.Fatalf("%s[%d] = %v (%#x), want %#x", n, i, got.Data[i], math.Float32bits(got.Data[i]), exp)
						}
					}
				}
				// The caller owns the data: it outlives Close and is writable.
				tt, _ := f.Tensor("b.bias")
				f.Close()
				tt.Data[0] = 42
				// FromBytes agrees with Open.
				fb, err := FromBytes("mem", raw)
				if err != nil {
					t.Fatal(err)
				}
				g1, _ := fb.Tensor("z.3d")
				if len(g1.Data) != 24 {
					t.Fatal("FromBytes tensor")
				}
			})
		}
	}
}

func TestRewriteIsByteIdentical(t *testing.T) {
	// Re-encoding the fixtures' own files must give their exact bytes: same
	// ordering, packing and padding as the fixture writer and HF.
	for _, p := range []string{
		testutil.Shared(t, "fixtures", "tiny-gpt2", "model.safetensors"),
		testutil.Shared(t, "fixtures", "lora-tiny-llama", "adapter_model.safetensors"),
		testutil.Shared(t, "models", "tiny-random-gpt2", "model.safetensors"),
	} {
		m, meta, err := ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "x.safetensors")
		if err := Write(out, m, meta); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(out)
		if string(a) != string(b) {
			t.Errorf("%s: rewrite differs (%d vs %d bytes)", p, len(a), len(b))
		}
	}
}

func TestFixturesLoad(t *testing.T) {
	root := testutil.Shared(t, "fixtures")
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".safetensors") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 20 {
		t.Fatalf("found only %d fixture files", len(files))
	}
	seen := map[string]int{}
	for _, p := range files {
		f, err := Open(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, n := range f.Names() {
			in, _ := f.Info(n)
			seen[in.DType]++
			switch in.DType {
			case "I64", "I32":
				v, shape, err := f.Int64(n)
				if err != nil || int64(len(v)) != in.Numel() || !tensor.SameShape(shape, in.Shape) {
					t.Errorf("%s %s: %v", p, n, err)
				}
			case "F64":
				v, _, err := f.Float64(n)
				if err != nil || int64(len(v)) != in.Numel() {
					t.Errorf("%s %s: %v", p, n, err)
				}
				tt, err := f.Tensor(n)
				if err != nil || float32(v[0]) != tt.Data[0] {
					t.Errorf("%s %s: F64 narrowing: %v", p, n, err)
				}
			default:
				tt, err := f.Tensor(n)
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				for i, v := range tt.Data {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Errorf("%s %s[%d] = %v", p, n, i, v)
						break
					}
				}
			}
		}
		f.Close()
	}
	for _, dt := range []string{"F32", "BF16", "F16", "F64", "I64"} {
		if seen[dt] == 0 {
			t.Errorf("no %s tensor among the fixtures", dt)
		}
	}
}

func TestHalfFixturesWiden(t *testing.T) {
	dir := testutil.Shared(t, "fixtures", "tiny-gpt2")
	base, err := Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	for _, c := range []struct {
		file, dtype string
		round       func(float32) float32
	}{
		{"model.bf16.safetensors", "BF16", func(v float32) float32 { return tensor.BF16ToF32(tensor.F32ToBF16(v)) }},
		{"model.f16.safetensors", "F16", func(v float32) float32 { return tensor.F16ToF32(tensor.F32ToF16(v)) }},
	} {
		f, err := Open(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.Names(), base.Names()) {
			t.Fatalf("%s: names differ", c.file)
		}
		for _, n := range base.Names() {
			in, _ := f.Info(n)
			if in.DType != c.dtype {
				t.Fatalf("%s %s: dtype %s", c.file, n, in.DType)
			}
			w, _ := base.Tensor(n)
			g, err := f.Tensor(n)
			if err != nil {
				t.Fatal(err)
			}
			for i := range w.Data {
				if math.Float32bits(g.Data[i]) != math.Float32bits(c.round(w.Data[i])) {
					t.Fatalf("%s %s[%d]: %v, want round(%v) = %v", c.file, n, i, g.Data[i], w.Data[i], c.round(w.Data[i]))
				}
			}
		}
		f.Close()
	}
}

func TestTinyRandomGPT2(t *testing.T) {
	f, err := Open(testutil.Shared(t, "models", "tiny-random-gpt2", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := f.Names()
	if len(names) != 64 {
		t.Fatalf("%d tensors, want 64", len(names))
	}
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata())
	}
	w, err := f.Tensor("transformer.h.0.attn.c_attn.weight")
	if err != nil || !tensor.SameShape(w.Shape, []int{32, 96}) {
		t.Fatalf("c_attn: %v %v", w, err)
	}
	ln, _ := f.Tensor("transformer.ln_f.weight")
	for _, v := range ln.Data {
		if v != 1 {
			t.Fatalf("ln_f.weight has %v, want all 1", v)
		}
	}
}

// build assembles a file from a header string and data length, so corrupt
// cases read as the JSON they contain.
func build(hdr string, dataLen int) []byte {
	b := make([]byte, 8, 8+len(hdr)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, make([]byte, dataLen)...)
}

func withLen(n uint64, rest string) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, n)
	return append(b, rest...)
}

func TestCorrupt(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`
	tests := []struct {
		name   string
		data   []byte
		want   error
		tensor string // expected Error.Tensor
	}{
		{"valid", build(ok, 24), nil, ""},
		{"empty file", nil, ErrTruncated, ""},
		{"truncated length", []byte{1, 2, 3}, ErrTruncated, ""},
		{"header beyond file", withLen(1000, "{}"), ErrTruncated, ""},
		{"header length 2^64-1", withLen(math.MaxUint64, "{}"), ErrTruncated, ""},
		{"header length 2^63", withLen(1<<63, "{}"), ErrTruncated, ""},
		{"header too short", withLen(0, ""), ErrHeader, ""},
		{"bad json", build(`{"a":{"dtype":"F32",`, 0), ErrHeader, "a"},
		{"bad json key", build(`{"a`, 0), ErrHeader, ""},
		{"not json", build(`hello world`, 0), ErrHeader, ""},
		{"array", build(`[1,2,3]`, 0), ErrHeader, ""},
		{"string", build(`"x"`, 0), ErrHeader, ""},
		{"null", build(`null`, 0), ErrHeader, ""},
		{"trailing garbage", build(ok+`xx`, 24), ErrHeader, ""},
		{"two objects", build(ok+`{}`, 24), ErrHeader, ""},
		{"entry not object", build(`{"a":5}`, 0), ErrHeader, "a"},
		{"metadata not strings", build(`{"__metadata__":{"x":1}}`, 0), ErrHeader, ""},
		{"unknown dtype", build(`{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, 16), ErrDType, "a"},
		{"missing dtype", build(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4), ErrDType, "a"},
		{"missing shape", build(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4), ErrShape, "a"},
		{"shape/span mismatch", build(`{"w":{"dtype":"F32","shape":[48,144],"data_offsets":[0,27000]}}`, 27000), ErrShape, "w"},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-1,3],"data_offsets":[0,12]}}`, 12), ErrShape, "a"},
		{"fractional dim", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,6]}}`, 6), ErrShape, "a"},
		{"huge dim", build(`{"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}`, 4), ErrShape, "a"},
		{"overflow product", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0), ErrShape, "a"},
		{"overflow wraps to span", build(`{"a":{"dtype":"F64","shape":[2305843009213693952,1],"data_offsets":[0,0]}}`, 0), ErrShape, "a"},
		{"span beyond data", build(`{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`, 20), ErrSpan, "a"},
		{"span end < begin", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}`, 8), ErrSpan, "a"},
		{"negative offset", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 8), ErrSpan, "a"},
		{"offset overflow", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]}}`, 8), ErrSpan, "a"},
		{"one offset", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, 8), ErrSpan, "a"},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), ErrOverlap, "b"},
		{"same span twice", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8), ErrOverlap, "b"},
		{"duplicate name", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), ErrDuplicate, "a"},
		{"gap allowed", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), nil, ""},
		{"empty tensors share offset", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4), nil, ""},
		{"padded header", build(ok+"     ", 24), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, f *File, err error) {
				if tc.want == nil {
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					for _, n := range f.Names() {
						if _, err := f.Tensor(n); err != nil {
							t.Errorf("%s: %v", how, err)
						}
					}
					f.Close()
					return
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: err = %v, want %v", how, err, tc.want)
				}
				var se *Error
				if !errors.As(err, &se) || se.Tensor != tc.tensor || se.File == "" {
					t.Fatalf("%s: err = %#v, want *Error naming the file and tensor %q", how, err, tc.tensor)
				}
				if !strings.Contains(err.Error(), se.File) {
					t.Errorf("message %q does not name the file", err)
				}
			}
			f, err := FromBytes("mem.safetensors", tc.data)
			check("FromBytes", f, err)
			path := filepath.Join(t.TempDir(), "c.safetensors")
			os.WriteFile(path, tc.data, 0o644)
			f, err = Open(path)
			check("Open", f, err)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := FromBytes("model.safetensors", build(`{"h.0.attn.c_attn.weight":{"dtype":"F32","shape":[48,144],"data_offsets":[0,27000]}}`, 27000))
	want := `safetensors: model.safetensors: tensor "h.0.attn.c_attn.weight": shape [48 144] × F32 = 27648 bytes but span is 27000 bytes`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestAccessErrors(t *testing.T) {
	f, err := FromBytes("m", build(`{"f":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"i":{"dtype":"I32","shape":[2],"data_offsets":[4,12]}}`, 12))
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(f.mapped[f.dataOff+8:], uint32(0xfffffffe)) // i[1] = -2
	if _, err := f.Tensor("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tensor: %v", err)
	}
	if _, err := f.Tensor("i"); !errors.Is(err, ErrConvert) {
		t.Errorf("Tensor of I32: %v", err)
	}
	if _, _, err := f.Int64("f"); !errors.Is(err, ErrConvert) {
		t.Errorf("Int64 of F32: %v", err)
	}
	if err := f.ReadInto("f", make([]float32, 2)); !errors.Is(err, ErrShape) {
		t.Errorf("ReadInto with a wrong-sized destination: %v", err)
	}
	if err := f.ReadInto("i", make([]float32, 2)); !errors.Is(err, ErrConvert) {
		t.Errorf("ReadInto of I32: %v", err)
	}
	if err := f.ReadInto("nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadInto of a missing tensor: %v", err)
	}
	v, _, err := f.Ints("i")
	if err != nil || !slices.Equal(v, []int{0, -2}) {
		t.Errorf("Ints = %v, %v", v, err)
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	os.WriteFile(path, []byte("old"), 0o644)
	bad := []map[string]*tensor.Tensor{
		{"a": {Shape: []int{2, 2}, Data: make([]float32, 3)}},
		{"a": nil},
		{"__metadata__": tensor.New(1)},
	}
	for i, m := range bad {
		if err := Write(path, m, nil); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	if err := WriteDType(path, map[string]*tensor.Tensor{"a": tensor.New(1)}, nil, "I8"); !errors.Is(err, ErrDType) {
		t.Errorf("dtype I8: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("failed write changed the file: %q", b)
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	all := randTensors(r)
	s1, s2 := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	wm := map[string]string{}
	i := 0
	for n, tt := range all {
		if i%2 == 0 {
			s1[n], wm[n] = tt, "model-00001-of-00002.safetensors"
		} else {
			s2[n], wm[n] = tt, "model-00002-of-00002.safetensors"
		}
		i++
	}
	Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), s1, nil)
	Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), s2, nil)
	writeIndex := func(wm map[string]string) {
		js, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1234}, "weight_map": wm})
		if err := os.WriteFile(filepath.Join(dir, IndexFile), js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeIndex(wm)
	src, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*Sharded); !ok {
		t.Fatalf("OpenDir gave %T", src)
	}
	if got := src.Names(); len(got) != len(all) || !slices.IsSorted(got) {
		t.Fatalf("names %v", got)
	}
	if src.Metadata()["total_size"] != "1234" {
		t.Errorf("metadata %v", src.Metadata())
	}
	for n, w := range all {
		g, err := src.Tensor(n)
		if err != nil || !slices.Equal(g.Data, w.Data) && len(w.Data) > 0 {
			t.Errorf("%s: %v", n, err)
		}
		dst := make([]float32, len(w.Data))
		if err := src.ReadInto(n, dst); err != nil || !slices.Equal(dst, w.Data) {
			t.Errorf("ReadInto %s: %v", n, err)
		}
	}
	if _, err := src.Tensor("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tensor in shards: %v", err)
	}
	src.Close()
	if sh, err := OpenSharded(dir); err != nil || len(sh.Shards()) != 2 {
		t.Errorf("OpenSharded(folder): %v", err)
	} else {
		sh.Close()
	}

	wm2 := map[string]string{"a.weight": "model-00001-of-00002.safetensors", "ghost": "model-00001-of-00002.safetensors"}
	writeIndex(wm2)
	if _, err := OpenDir(dir); !errors.Is(err, ErrNotFound) {
		t.Errorf("tensor missing from shard: %v", err)
	}
	writeIndex(map[string]string{"a.weight": "../../etc/passwd"})
	if _, err := OpenDir(dir); !errors.Is(err, ErrHeader) {
		t.Errorf("escaping shard name: %v", err)
	}
	os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"weight_map": [`), 0o644)
	if _, err := OpenDir(dir); !errors.Is(err, ErrHeader) {
		t.Errorf("bad index JSON: %v", err)
	}
	// A single file wins over the index, as in transformers.
	Write(filepath.Join(dir, SingleFile), s1, nil)
	src, err = OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*File); !ok || len(src.Names()) != len(s1) {
		t.Errorf("OpenDir with model.safetensors gave %T", src)
	}
	src.Close()
	if _, err := OpenDir(t.TempDir()); err == nil {
		t.Error("empty folder opened")
	}
}

func TestReadAllErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := ReadAll(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("missing file: no error")
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, []byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadAll(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("truncated file: error %v does not name it", err)
	}
}
