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

// TestNormForwardRow checks SumSqDev and NormApply against float64 on odd
// lengths and offsets, with and without a bias, in place too.
func TestNormForwardRow(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, n := range vecSizes {
			for _, off := range []int{0, 1} {
				name := fmt.Sprintf("n=%d/off=%d", n, off)
				_, x := guarded(rng, n, off)
				_, w := guarded(rng, n, off)
				_, b := guarded(rng, n, off)
				for i := range x {
					x[i] = 5*x[i] + 100 // a large mean
				}
				const m, s = float32(100.25), float32(0.3)
				var dev, absDev float64
				for _, v := range x {
					d := float64(v) - float64(m)
					dev += d * d
					absDev += d * d
				}
				if got := SumSqDev(x, m); math.Abs(float64(got)-dev) > 1e-5*absDev {
					t.Fatalf("SumSqDev %s: %v want %v", name, got, dev)
				}
				for _, bias := range [][]float32{nil, b} {
					bo, o := guarded(rng, n, off)
					NormApply(o, x, w, bias, m, s)
					checkGuards(t, "NormApply", bo, n, off)
					for i := range x {
						want := (float64(x[i]) - float64(m)) * float64(s) * float64(w[i])
						if bias != nil {
							want += float64(bias[i])
						}
						if math.Abs(float64(o[i])-want) > 1e-6*(1+math.Abs(want)) {
							t.Fatalf("NormApply %s bias=%v [%d]: %v want %v", name, bias != nil, i, o[i], want)
						}
					}
					xc := append([]float32(nil), x...)
					NormApply(xc, xc, w, bias, m, s)
					for i := range xc {
						if xc[i] != o[i] {
							t.Fatalf("NormApply %s in place [%d]: %v, %v apart", name, i, xc[i], o[i])
						}
					}
				}
			}
		}
	})
}
