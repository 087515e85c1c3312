package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

func randF16(rng *rand.Rand, n int) ([]uint16, []float64) {
	w := make([]uint16, n)
	w64 := make([]float64, n)
	for i := range w {
		w[i] = tensor.F32ToF16(float32(rng.NormFloat64()))
		w64[i] = float64(tensor.F16ToF32(w[i]))
	}
	return w, w64
}

// TestDotF16 checks the F16 dot product against a float64 sum over the
// widened weights, for lengths around the 32-element vector block.
func TestDotF16(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, n := range []int{0, 1, 7, 31, 32, 33, 64, 95, 768, 1027, 3072} {
			w, w64 := randF16(rng, n+3) // longer than x: only len(x) counts
			x := make([]float32, n)
			var want, mag float64
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				p := w64[i] * float64(x[i])
				want += p
				mag += math.Abs(p)
			}
			if got := DotF16(w, x); math.Abs(float64(got)-want) > 1e-5*mag+1e-6 {
				t.Errorf("n=%d: %g, want %g", n, got, want)
			}
		}
	})
}

// TestGemvF16 checks y = x·wᵀ against float64 for a few rows and odd sizes.
func TestGemvF16(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, sh := range [][3]int{{1, 17, 3}, {3, 63, 129}, {4, 1000, 33}, {2, 768, 1}} {
			n, in, out := sh[0], sh[1], sh[2]
			w, w64 := randF16(rng, out*in)
			x := make([]float32, n*in)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]float32, n*out)
			GemvF16(y, w, x, n, in, out)
			for i := 0; i < n; i++ {
				for j := 0; j < out; j++ {
					var want, mag float64
					for p := 0; p < in; p++ {
						v := float64(x[i*in+p]) * w64[j*in+p]
						want += v
						mag += math.Abs(v)
					}
					if got := float64(y[i*out+j]); math.Abs(got-want) > 1e-5*mag+1e-6 {
						t.Fatalf("%v y[%d,%d] = %g, want %g", sh, i, j, got, want)
					}
				}
			}
		}
	})
}

func BenchmarkDotF16(b *testing.B) {
	for _, name := range impls() {
		for _, n := range []int{768, 3072} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				selectImpl(name)
				defer selectImpl("")
				rng := rand.New(rand.NewPCG(1, 1))
				w, _ := randF16(rng, n)
				x := make([]float32, n)
				b.SetBytes(int64(2 * n))
				for b.Loop() {
					DotF16(w, x)
				}
			})
		}
	}
}
