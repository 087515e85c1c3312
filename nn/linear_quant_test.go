package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/tensor"
)

// TestQuantWeightProducts checks x·Wᵀ and dy·W on a quantized weight
// against float64 products with the dequantized weight, on odd shapes
// (rows not a multiple of the panel, several n).
func TestQuantWeightProducts(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, c := range []struct {
		typ     gguf.Type
		out, in int
	}{{gguf.Q8_0, 67, 96}, {gguf.Q4_0, 131, 32}, {gguf.Q4_K, 37, 512}, {gguf.Q4_K, 1, 256}} {
		w := tensor.New(c.out, c.in)
		for i := range w.Data {
			w.Data[i] = float32(r.NormFloat64() * 0.05)
		}
		q, err := QuantizeWeight(w, c.typ)
		if err != nil {
			t.Fatal(err)
		}
		deq := make([]float32, c.out*c.in)
		if err := gguf.Dequantize(deq, q.Data, c.typ); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 3, 17} {
			x := make([]float32, n*c.in)
			dy := make([]float32, n*c.out)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			for i := range dy {
				dy[i] = float32(r.NormFloat64())
			}
			y := make([]float32, n*c.out)
			for i := range y {
				y[i] = float32(math.NaN()) // overwritten, never read
			}
			q.MulWT(x, y, n)
			dx := make([]float32, n*c.in)
			for i := range dx {
				dx[i] = 1 // accumulated into
			}
			q.AddMulW(dy, dx, n)
			for i := 0; i < n; i++ {
				for o := 0; o < c.out; o++ {
					var want float64
					for k := 0; k < c.in; k++ {
						want += float64(x[i*c.in+k]) * float64(deq[o*c.in+k])
					}
					if d := math.Abs(float64(y[i*c.out+o]) - want); d > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%s %dx%d n=%d: y[%d,%d] = %g, want %g", c.typ, c.out, c.in, n, i, o, y[i*c.out+o], want)
					}
				}
				for k := 0; k < c.in; k++ {
					want := 1.0
					for o := 0; o < c.out; o++ {
						want += float64(dy[i*c.out+o]) * float64(deq[o*c.in+k])
					}
					if d := math.Abs(float64(dx[i*c.in+k]) - want); d > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%s %dx%d n=%d: dx[%d,%d] = %g, want %g", c.typ, c.out, c.in, n, i, k, dx[i*c.in+k], want)
					}
				}
			}
		}
		if q.Bytes()*8 > c.out*c.in*9 {
			t.Errorf("%s: %d bytes for %d weights", c.typ, q.Bytes(), c.out*c.in)
		}
	}
	if _, err := QuantizeWeight(tensor.New(4, 33), gguf.Q8_0); err == nil {
		t.Error("a row of 33 quantized as Q8_0")
	}
}
