package testutil

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
)

// Array is one tensor of a fixture file, kept at full precision: float
// dtypes are widened to float64, integer dtypes to int64.
type Array struct {
	Dtype string
	Shape []int
	F     []float64 // float dtypes (F64, F32)
	I     []int64   // integer dtypes (I64, I32)
}

// F32 rounds a float array to float32.
func (a *Array) F32() []float32 { return To32(a.F) }

// Ints returns an integer array as []int (token ids, targets).
func (a *Array) Ints() []int {
	out := make([]int, len(a.I))
	for i, v := range a.I {
		out[i] = int(v)
	}
	return out
}

// ReadSafetensors reads every tensor of a safetensors file at full
// precision. The project's format/safetensors widens to float32, which would
// throw away the float64 references in fixtures/ops, hence this small
// reader. It supports F64, F32, I64 and I32 and checks that every tensor's
// byte range lies inside the data section and matches its shape.
func ReadSafetensors(path string) (map[string]*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("%s: too short for a safetensors header", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%s: header length %d beyond end of file", path, n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	data := b[8+n:]
	out := make(map[string]*Array, len(hdr))
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var info struct {
			Dtype   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &info); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", path, name, err)
		}
		numel := 1
		for _, d := range info.Shape {
			numel *= d
		}
		size := map[string]int{"F64": 8, "I64": 8, "F32": 4, "I32": 4}[info.Dtype]
		if size == 0 {
			return nil, fmt.Errorf("%s: tensor %s: dtype %s not supported by the test reader", path, name, info.Dtype)
		}
		lo, hi := info.Offsets[0], info.Offsets[1]
		if lo < 0 || hi < lo || hi > int64(len(data)) || hi-lo != int64(numel*size) {
			return nil, fmt.Errorf("%s: tensor %s: offsets [%d,%d] do not fit shape %v %s in %d data bytes",
				path, name, lo, hi, info.Shape, info.Dtype, len(data))
		}
		p := data[lo:hi]
		a := &Array{Dtype: info.Dtype, Shape: slices.Clone(info.Shape)}
		switch info.Dtype {
		case "F64":
			a.F = make([]float64, numel)
			for i := range a.F {
				a.F[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
			}
		case "F32":
			a.F = make([]float64, numel)
			for i := range a.F {
				a.F[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:])))
			}
		case "I64":
			a.I = make([]int64, numel)
			for i := range a.I {
				a.I[i] = int64(binary.LittleEndian.Uint64(p[8*i:]))
			}
		case "I32":
			a.I = make([]int64, numel)
			for i := range a.I {
				a.I[i] = int64(int32(binary.LittleEndian.Uint32(p[4*i:])))
			}
		}
		out[name] = a
	}
	return out, nil
}

// Fixture reads a safetensors file under the references' fixtures/ (see
// Shared for where they are looked up) and fails the test on a read error.
func Fixture(t testing.TB, elem ...string) map[string]*Array {
	t.Helper()
	p := Shared(t, append([]string{"fixtures"}, elem...)...)
	m, err := ReadSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Get returns the named array of a fixture, failing the test if it is
// missing.
func Get(t testing.TB, m map[string]*Array, name string) *Array {
	t.Helper()
	a, ok := m[name]
	if !ok {
		t.Fatalf("fixture tensor %s missing", name)
	}
	return a
}
