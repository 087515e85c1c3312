package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestNormGrad checks NormGrad against the float64 formulas on odd
// lengths and offsets, for LayerNorm and RMSNorm rows, with guards around
// dx.
func TestNormGrad(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, n := range vecSizes {
			for _, off := range []int{0, 1} {
				for _, center := range []bool{true, false} {
					name := fmt.Sprintf("n=%d/off=%d/center=%v", n, off, center)
					_, x := guarded(rng, n, off)
					_, dy := guarded(rng, n, off)
					_, w := guarded(rng, n, off)
					bdx, dx := guarded(rng, n, off)
					for i := range x {
						x[i] = 3*x[i] + 2 // a mean away from 0
					}
					var m, s float64
					if center {
						for _, v := range x {
							m += float64(v)
						}
						m /= float64(n)
					}
					for _, v := range x {
						s += (float64(v) - m) * (float64(v) - m)
					}
					s = 1 / math.Sqrt(s/float64(n)+1e-5)
					m32, s32 := float32(m), float32(s)
					var gm, gxm, scale float64
					for i := range x {
						g := float64(w[i]) * float64(dy[i])
						if center {
							gm += g / float64(n)
						}
						gxm += g * (float64(x[i]) - float64(m32)) * float64(s32) / float64(n)
					}
					prev := append([]float32(nil), dx...)
					NormGrad(dx, x, dy, w, m32, s32, center)
					checkGuards(t, "NormGrad", bdx, n, off)
					for i := range x {
						xh := (float64(x[i]) - float64(m32)) * float64(s32)
						g := float64(w[i]) * float64(dy[i])
						d := float64(s32) * (g - gm - xh*gxm)
						scale = float64(s32) * (math.Abs(g) + math.Abs(gm) + math.Abs(xh*gxm))
						if want := float64(prev[i]) + d; math.Abs(float64(dx[i])-want) > 1e-5*(math.Abs(float64(prev[i]))+scale) {
							t.Fatalf("%s [%d]: %v want %v", name, i, dx[i], want)
						}
					}
				}
			}
		}
	})
}
