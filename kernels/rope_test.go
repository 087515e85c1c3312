package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestRotate checks Rotate against float64 and, bit for bit, against the
// Go loop, on odd lengths and offsets, both signs, with guards.
func TestRotate(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		for _, n := range vecSizes {
			for _, off := range []int{0, 1} {
				for _, sign := range []float32{1, -1} {
					name := fmt.Sprintf("n=%d/off=%d/sign=%v", n, off, sign)
					blo, lo := guarded(rng, n, off)
					bhi, hi := guarded(rng, n, off)
					c, s := make([]float32, n), make([]float32, n)
					for j := range c {
						th := rng.Float64() * 2 * math.Pi
						c[j], s[j] = float32(math.Cos(th)), float32(math.Sin(th))
					}
					glo, ghi := append([]float32(nil), lo...), append([]float32(nil), hi...)
					rotateGeneric(glo, ghi, c, s, sign)
					l0, h0 := append([]float32(nil), lo...), append([]float32(nil), hi...)
					Rotate(lo, hi, c, s, sign)
					checkGuards(t, "Rotate lo", blo, n, off)
					checkGuards(t, "Rotate hi", bhi, n, off)
					for j := range lo {
						a, b, sj := float64(l0[j]), float64(h0[j]), float64(sign)*float64(s[j])
						wl, wh := a*float64(c[j])-b*sj, b*float64(c[j])+a*sj
						if lo[j] != glo[j] || hi[j] != ghi[j] || math.Abs(float64(lo[j])-wl) > 1e-6 || math.Abs(float64(hi[j])-wh) > 1e-6 {
							t.Fatalf("Rotate %s [%d]: (%v, %v), Go loop (%v, %v), float64 (%v, %v)", name, j, lo[j], hi[j], glo[j], ghi[j], wl, wh)
						}
					}
				}
			}
		}
	})
}
