package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

// TestLinearHalf: a Linear whose frozen W is BF16/F16 computes, forward and
// backward (dx), what the float32 Linear computes from the widened W and
// (BF16) bf16-rounded inputs, checked in float64, on odd shapes and with a
// bias and a delta-free path.
func TestLinearHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
		for _, sh := range [][3]int{{1, 7, 5}, {3, 33, 17}, {29, 70, 131}} {
			n, in, out := sh[0], sh[1], sh[2]
			h := make([]uint16, out*in)
			for i := range h {
				h[i] = dt.Narrow(float32(rng.NormFloat64()))
			}
			l := &Linear{W: tensor.NewHalf(dt, h, out, in), B: tensor.New(out)}
			for i := range l.B.Data {
				l.B.Data[i] = rng.Float32()
			}
			x := make([]float32, n*in)
			dy := make([]float32, n*out)
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			for i := range dy {
				dy[i] = rng.Float32()*2 - 1
			}
			round := func(v float32) float64 {
				if dt == tensor.BF16 {
					return float64(tensor.BF16ToF32(tensor.F32ToBF16(v)))
				}
				return float64(v)
			}
			y := make([]float32, n*out)
			l.Forward(x, y, n)
			dx := make([]float32, n*in)
			l.Backward(x, dy, dx, n)
			for i := 0; i < n; i++ {
				for j := 0; j < out; j++ {
					want := float64(l.B.Data[j])
					for p := 0; p < in; p++ {
						want += round(x[i*in+p]) * float64(dt.Widen(h[j*in+p]))
					}
					if math.Abs(float64(y[i*out+j])-want) > 1e-5*math.Sqrt(float64(in))+1e-6 {
						t.Fatalf("%v %v: y[%d,%d] = %v, want %v", dt, sh, i, j, y[i*out+j], want)
					}
				}
				for p := 0; p < in; p++ {
					want := 0.0
					for j := 0; j < out; j++ {
						want += round(dy[i*out+j]) * float64(dt.Widen(h[j*in+p]))
					}
					if math.Abs(float64(dx[i*in+p])-want) > 1e-5*math.Sqrt(float64(out))+1e-6 {
						t.Fatalf("%v %v: dx[%d,%d] = %v, want %v", dt, sh, i, p, dx[i*in+p], want)
					}
				}
			}
		}
	}
}
