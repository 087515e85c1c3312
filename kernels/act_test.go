package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The float64 references of act.go's formulas (x/(1+e^(-2v)) is the tanh
// form 0.5x(1+tanh v) without its cancellation for negative x).
func gelu64(x float64) float64 {
	return x / (1 + math.Exp(-2*geluK*(x+0.044715*x*x*x)))
}

func geluGrad64(x float64) float64 {
	s := 1 / (1 + math.Exp(-2*geluK*(x+0.044715*x*x*x)))
	return s + x*s*(1-s)*2*geluK*(1+3*0.044715*x*x)
}

// geluGradScale is the sum of the magnitudes of gelu's two terms: the
// derivative crosses 0 near x = -0.75, where they cancel, so its error is
// measured against them.
func geluGradScale(x float64) float64 {
	s := 1 / (1 + math.Exp(-2*geluK*(x+0.044715*x*x*x)))
	return s + math.Abs(x*s*(1-s)*2*geluK*(1+3*0.044715*x*x))
}

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func siluGrad64(x float64) float64 {
	s := sigmoid64(x)
	return s * (1 + x*(1-s))
}

// siluGradScale is geluGradScale's counterpart (silu' is 0 near -1.28).
func siluGradScale(x float64) float64 {
	s := sigmoid64(x)
	return s * (1 + math.Abs(x*(1-s)))
}

// actClose reports whether a float32 result is within tol of the float64
// reference, relative to max(scale, 1e-30): below that it is underflow.
func actClose(got float32, want, scale, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*math.Max(scale, 1e-30)
}

// TestActivations checks each kernel and implementation against float64
// on odd lengths and offsets, for both set and accumulate, with guards
// around every output; then that an element's bits do not depend on its
// position (a lone element against the same one inside a slice).
func TestActivations(t *testing.T) {
	// inputs in [-8, 8): the exponent's argument (up to 49) is rounded to
	// float32, which exp turns into a relative error of up to ~49·2^-23·3
	const tol = 2e-5
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range vecSizes {
			for _, off := range []int{0, 1} {
				name := fmt.Sprintf("n=%d/off=%d", n, off)
				in := func() []float32 {
					_, s := guarded(rng, n, off)
					for i := range s {
						s[i] *= 4
					}
					return s
				}
				x, bias, dy, u := in(), in(), in(), in()
				x0 := append([]float32(nil), x...)
				bd, dst := guarded(rng, n, off)
				Gelu(dst, x, bias)
				checkGuards(t, "Gelu", bd, n, off)
				for i := range x {
					v := x0[i] + bias[i]
					if w := gelu64(float64(v)); x[i] != v || !actClose(dst[i], w, math.Abs(w), tol) {
						t.Fatalf("Gelu %s [%d]: x %v → %v (want %v), gelu %v want %v", name, i, x0[i], x[i], v, dst[i], gelu64(float64(v)))
					}
				}
				Gelu(x, x, nil) // aliased, no bias
				for i := range x {
					if x[i] != dst[i] {
						t.Fatalf("Gelu %s aliased [%d]: %v, %v unaliased", name, i, x[i], dst[i])
					}
				}
				copy(x, x0)
				SwiGLU(dst, x, u)
				checkGuards(t, "SwiGLU", bd, n, off)
				for i := range x {
					g := float64(x[i])
					if w := g * sigmoid64(g) * float64(u[i]); !actClose(dst[i], w, math.Abs(w), tol) {
						t.Fatalf("SwiGLU %s [%d]: %v want %v", name, i, dst[i], g*sigmoid64(g)*float64(u[i]))
					}
				}
				for _, acc := range []bool{false, true} {
					bdx, dx := guarded(rng, n, off)
					bdu, du := guarded(rng, n, off)
					prev, prevU := append([]float32(nil), dx...), append([]float32(nil), du...)
					base := func(i int, p []float32) float64 {
						if acc {
							return float64(p[i])
						}
						return 0
					}
					GeluGrad(dx, x, dy, acc)
					checkGuards(t, "GeluGrad", bdx, n, off)
					for i := range x {
						w := base(i, prev) + geluGrad64(float64(x[i]))*float64(dy[i])
						if !actClose(dx[i], w, math.Abs(base(i, prev))+geluGradScale(float64(x[i]))*math.Abs(float64(dy[i])), tol) {
							t.Fatalf("GeluGrad %s acc=%v [%d]: %v want %v", name, acc, i, dx[i], w)
						}
					}
					copy(dx, prev)
					SwiGLUGrad(dx, du, x, u, dy, acc)
					checkGuards(t, "SwiGLUGrad dg", bdx, n, off)
					checkGuards(t, "SwiGLUGrad du", bdu, n, off)
					for i := range x {
						g, s, uy := float64(x[i]), sigmoid64(float64(x[i])), float64(u[i])*float64(dy[i])
						wg := base(i, prev) + siluGrad64(g)*uy
						wu := base(i, prevU) + g*s*float64(dy[i])
						if !actClose(dx[i], wg, math.Abs(base(i, prev))+siluGradScale(g)*math.Abs(uy), tol) ||
							!actClose(du[i], wu, math.Abs(base(i, prevU))+math.Abs(g*s*float64(dy[i])), tol) {
							t.Fatalf("SwiGLUGrad %s acc=%v [%d]: dg %v want %v, du %v want %v", name, acc, i, dx[i], wg, du[i], wu)
						}
					}
					// one output skipped: the other unchanged in value
					want := append([]float32(nil), du...)
					copy(du, prevU)
					SwiGLUGrad(nil, du, x, u, dy, acc)
					for i := range du {
						if du[i] != want[i] {
							t.Fatalf("SwiGLUGrad %s nil dg [%d]: %v, %v with dg", name, i, du[i], want[i])
						}
					}
				}
				// position independence: each element alone gives the bits
				// it gets inside the slice (the tail goes through the same
				// vector code as the body)
				h, dgs, dus := make([]float32, n), make([]float32, n), make([]float32, n)
				Gelu(dst, x, nil)
				GeluGrad(h, x, dy, false)
				al := append([]float32(nil), dy...)
				GeluGrad(al, x, al, false) // dx aliasing dy
				for i := range al {
					if al[i] != h[i] {
						t.Fatalf("GeluGrad %s in place [%d]: %v, %v apart", name, i, al[i], h[i])
					}
				}
				for i := range x {
					var one, d1 [1]float32
					Gelu(one[:], x[i:i+1], nil)
					GeluGrad(d1[:], x[i:i+1], dy[i:i+1], false)
					if one[0] != dst[i] || d1[0] != h[i] {
						t.Fatalf("Gelu %s [%d]: %v, %v alone, %v, %v in the slice", name, i, one[0], d1[0], dst[i], h[i])
					}
				}
				SwiGLU(dst, x, u)
				SwiGLUGrad(dgs, dus, x, u, dy, false)
				for i := range x {
					var one, g1, u1 [1]float32
					SwiGLU(one[:], x[i:i+1], u[i:i+1])
					SwiGLUGrad(g1[:], u1[:], x[i:i+1], u[i:i+1], dy[i:i+1], false)
					if one[0] != dst[i] || g1[0] != dgs[i] || u1[0] != dus[i] {
						t.Fatalf("SwiGLU %s [%d]: alone %v %v %v, in the slice %v %v %v", name, i, one[0], g1[0], u1[0], dst[i], dgs[i], dus[i])
					}
				}
			}
		}
	})
}

// TestActivationAccuracy sweeps the whole float32 range that matters
// (|x| up to 100 in steps of 2^-9, then powers of two up to 2^127, ±Inf,
// NaN) and reports the largest error against float64 in ulps of the
// rounded reference and relatively, over results of at least 2^-100;
// smaller ones (gelu below x ≈ -9.5, silu below -68) need only be within
// 2^-100. The derivatives cross 0 (gelu' near -0.75, silu' near -1.28),
// so their error is relative to the sum of their terms' magnitudes. The bound covers the exponent's argument t = -2k·x(1 +
// 0.044715x²), rounded in float32: exp(t) carries t's rounding times |t|,
// up to ~88·2^-23·3 in the tails where gelu or its derivative is tiny.
func TestActivationAccuracy(t *testing.T) {
	var xs []float32
	for x := float32(-100); x < 100; x += 1.0 / 512 {
		xs = append(xs, x)
	}
	for e := -20; e < 128; e++ {
		v := float32(math.Ldexp(1, e))
		xs = append(xs, v, -v, v*1.37, -v*1.37)
	}
	xs = append(xs, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0)
	forEachImpl(t, func(t *testing.T) {
		out := make([]float32, len(xs))
		ones := make([]float32, len(xs))
		for i := range ones {
			ones[i] = 1
		}
		for _, c := range []struct {
			name       string
			run        func()
			ref, scale func(x float64) float64
		}{
			{"gelu", func() { Gelu(out, xs, nil) }, gelu64, nil},
			{"gelu'", func() { GeluGrad(out, xs, ones, false) }, geluGrad64, geluGradScale},
			{"silu", func() { SwiGLU(out, xs, ones) }, func(x float64) float64 { return x * sigmoid64(x) }, nil},
			{"silu'", func() { SwiGLUGrad(out, nil, xs, ones, ones, false) }, siluGrad64, siluGradScale},
		} {
			c.run()
			var maxRel, maxUlp float64
			var at float32
			for i, x := range xs {
				want := c.ref(float64(x))
				if math.IsNaN(float64(x)) != (out[i] != out[i]) && !math.IsInf(float64(x), 0) {
					t.Errorf("%s(%v) = %v, want NaN only for NaN", c.name, x, out[i])
				}
				if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
					continue // ±Inf may give NaN, as x·sigmoid(x) at -Inf does in PyTorch
				}
				w32 := float32(want)
				if math.Abs(want) < 0x1p-100 || math.IsInf(float64(w32), 0) {
					// near underflow (or beyond float32): results this small
					// may flush to 0 (an exp past 88.4 is +Inf)
					if math.Abs(float64(out[i])-want) > 0x1p-100 && !math.IsInf(float64(w32), 0) {
						t.Errorf("%s(%v) = %v, want %v (underflow)", c.name, x, out[i], want)
					}
					continue
				}
				scale := math.Abs(want)
				if c.scale != nil {
					scale = c.scale(float64(x))
				}
				rel := math.Abs(float64(out[i])-want) / scale
				ulp := math.Abs(float64(out[i])-want) / ulp32(float32(scale))
				if rel > maxRel {
					maxRel, at = rel, x
				}
				maxUlp = math.Max(maxUlp, ulp)
			}
			t.Logf("%s: max error %.3g relative (%.0f ulps), worst at x = %v", c.name, maxRel, maxUlp, at)
			if maxRel > 2e-5 {
				t.Errorf("%s: max relative error %.3g at x = %v", c.name, maxRel, at)
			}
		}
	})
}

// ulp32 is the spacing of float32 values at |v|.
func ulp32(v float32) float64 {
	v = float32(math.Abs(float64(v)))
	return float64(math.Nextafter32(v, float32(math.Inf(1))) - v)
}
