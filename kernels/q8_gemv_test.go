package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/tensor"
)

// TestGemmQ8_0RowExact checks that a Q8_0 product's output for one weight
// row and one activation row has the same bits however the call is made:
// with other activation rows or alone, in a group of four weight rows or
// as a tail row (the matrix shifted by 1-3 rows), on 1 or 2 threads. The
// server's row-exact steps (model.SetRowExact) rely on it.
func TestGemmQ8_0RowExact(t *testing.T) {
	defer SetThreads(Threads())
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		const out, in, n = 23, 160, 5
		wf := make([]float32, out*in)
		for i := range wf {
			wf[i] = float32(r.NormFloat64())
		}
		w, err := gguf.Quantize(wf, gguf.Q8_0)
		if err != nil {
			t.Fatal(err)
		}
		w[2], w[40] = 0x80, 0x80 // -128 (GGUF allows it; the quantizer never writes it)
		x := make([]float32, n*in)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		var a QActs
		a.QuantizeActs(tensor.Q8_0, x, n, in)
		SetThreads(2)
		want := make([]float32, n*out)
		GemmQuant(&a, w, out, want, out)
		rb := tensor.Q8_0.RowBytes(in)
		for i := range n { // the int8 products, in float64
			for o := range out {
				var ref, mag float64
				for k := range in {
					blk := w[o*rb+34*(k/32):]
					p := float64(tensor.F16ToF32(uint16(blk[0])|uint16(blk[1])<<8)) * float64(int8(blk[2+k%32])) *
						float64(a.D[(i*in+k)/32]) * float64(a.Q[i*in+k])
					ref += p
					mag += math.Abs(p)
				}
				if d := math.Abs(float64(want[i*out+o]) - ref); d > 1e-5*mag {
					t.Fatalf("y[%d,%d] = %g, float64 %g", i, o, want[i*out+o], ref)
				}
			}
		}
		for threads := 1; threads <= 2; threads++ {
			SetThreads(threads)
			for i := range n {
				var ai QActs
				ai.QuantizeActs(tensor.Q8_0, x[i*in:(i+1)*in], 1, in)
				for shift := range 4 {
					y := make([]float32, out-shift)
					GemmQuant(&ai, w[shift*rb:], out-shift, y, out-shift)
					for o, v := range y {
						if g := want[i*out+o+shift]; v != g {
							t.Fatalf("%d threads: row %d output %d alone (matrix shifted %d) = %v, in the batch %v", threads, i, o+shift, shift, v, g)
						}
					}
				}
			}
		}
	})
}
