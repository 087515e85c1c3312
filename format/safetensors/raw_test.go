package safetensors

import (
	"math"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/golora/golora/tensor"
)

// TestWriteHalfTensors: a half tensor is written as stored in its own
// dtype and converted exactly to others; Raw of a mapped file aliases it.
func TestWriteHalfTensors(t *testing.T) {
	vals := []float32{1, -2.5, 0.15625, 3e-5, float32(math.Copysign(0, -1)), 1024} // -0.0 in Go is +0
	h := make([]uint16, len(vals))
	for i, v := range vals {
		h[i] = tensor.F32ToBF16(v)
	}
	ts := map[string]*tensor.Tensor{"w": tensor.NewHalf(tensor.BF16, h, 2, 3), "b": tensor.From([]float32{1, 2}, 2)}
	for _, dt := range []string{"BF16", "F32", "F16"} {
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := WriteDType(path, ts, nil, dt); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Tensor("w")
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got.Data {
			want := tensor.BF16ToF32(h[i])
			if dt == "F16" {
				want = tensor.F16ToF32(tensor.F32ToF16(want))
			}
			if v != want {
				t.Errorf("%s: w[%d] = %v, want %v", dt, i, v, want)
			}
		}
		if dt == "BF16" {
			raw, in, err := f.Raw("w")
			if err != nil || in.DType != "BF16" || len(raw) != 12 {
				t.Fatalf("Raw: %v %v %d", err, in, len(raw))
			}
			if f.Mapped() && unsafe.SliceData(raw) != &f.mapped[f.dataOff+in.Begin] {
				t.Errorf("Raw of a mapped file does not alias the mapping")
			}
		}
		f.Close()
	}
}
