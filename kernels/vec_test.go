package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var vecSizes = []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 1000, 1027}

func TestVectorOps(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range vecSizes {
			for _, off := range []int{0, 1} {
				bx, x := guarded(rng, n, off)
				by, y := guarded(rng, n, off)
				var dot, absDot, sum, absSum, sumSq float64
				mx, ma := math.Inf(-1), 0.0
				for i := range x {
					dot += float64(x[i]) * float64(y[i])
					absDot += math.Abs(float64(x[i]) * float64(y[i]))
					sum += float64(x[i])
					absSum += math.Abs(float64(x[i]))
					sumSq += float64(x[i]) * float64(x[i])
					mx = math.Max(mx, float64(x[i]))
					ma = math.Max(ma, math.Abs(float64(x[i])))
				}
				name := fmt.Sprintf("n=%d/off=%d", n, off)
				for _, c := range []struct {
					op        string
					got, want float64
					scale     float64
				}{
					{"Dot", float64(Dot(x, y)), dot, absDot},
					{"Sum", float64(Sum(x)), sum, absSum},
					{"SumSq", float64(SumSq(x)), sumSq, sumSq},
					{"Max", float64(Max(x)), mx, 0},
					{"MaxAbs", float64(MaxAbs(x)), ma, 0},
				} {
					if e := relErr(c.got, c.want, c.scale); e > 1e-5 {
						t.Errorf("%s %s: got %v want %v (rel err %.3g)", c.op, name, c.got, c.want, e)
					}
				}
				checkGuards(t, "x", bx, n, off)
				checkGuards(t, "y", by, n, off)

				x64 := make([]float64, n)
				y64 := make([]float64, n)
				for i := range x {
					x64[i], y64[i] = float64(x[i]), float64(y[i])
				}
				const alpha = 0.7
				elementwise := []struct {
					op   string
					run  func()
					want func(i int) float64
				}{
					{"Axpy", func() { Axpy(alpha, x, y) }, func(i int) float64 { return y64[i] + alpha*x64[i] }},
					{"Scale", func() { Scale(alpha, y) }, func(i int) float64 { return float64(float32(alpha)) * y64[i] }},
					{"Add", func() { Add(y, x) }, func(i int) float64 { return y64[i] + x64[i] }},
					{"Mul", func() { Mul(y, x, y) }, func(i int) float64 { return x64[i] * y64[i] }},
				}
				for _, e := range elementwise {
					for i := range y {
						y[i] = float32(y64[i])
					}
					e.run()
					for i := range y {
						if err := relErr(float64(y[i]), e.want(i), math.Max(1, math.Abs(e.want(i)))); err > 1e-6 {
							t.Fatalf("%s %s: y[%d]=%v want %v", e.op, name, i, y[i], e.want(i))
						}
					}
					checkGuards(t, e.op, by, n, off)
				}
			}
		}
	})
}

func TestMaxNaN(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	forEachImpl(t, func(t *testing.T) {
		for _, c := range []struct {
			name        string
			x           []float32
			max, maxAbs float32
			maxIsNaN    bool
		}{
			{"nan first", append([]float32{nan}, seq(20, -3)...), 16, 16, false},
			{"nan middle", append(seq(12, 0), nan, 1, 2, 3, 4, 5, 6, 7, 8), 11, 11, false},
			{"all nan", []float32{nan, nan, nan, nan, nan, nan, nan, nan, nan}, 0, 0, true},
			{"all -inf", []float32{-inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf}, -inf, inf, false},
			{"negative", seq(17, -40), -24, 40, false},
		} {
			got := Max(c.x)
			if c.maxIsNaN != (got != got) || (!c.maxIsNaN && got != c.max) {
				t.Errorf("Max(%s) = %v, want %v", c.name, got, c.max)
			}
			if got := MaxAbs(c.x); got != c.maxAbs {
				t.Errorf("MaxAbs(%s) = %v, want %v", c.name, got, c.maxAbs)
			}
		}
	})
}

func seq(n int, start float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = start + float32(i)
	}
	return s
}

func TestExpSub(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range vecSizes {
			_, x := guarded(rng, n, 1)
			for i := range x {
				x[i] *= 40 // exercise the whole useful range
			}
			bd, dst := guarded(rng, n, 1)
			const m = 5
			var want float64
			// the reference starts from the float32 difference: rounding
			// x-m to float32 is the caller's, not the kernel's, error
			for _, v := range x {
				want += math.Exp(float64(v - m))
			}
			got := ExpSub(dst, x, m)
			for i, v := range x {
				w := math.Exp(float64(v - m))
				if e := relErr(float64(dst[i]), w, w); e > 1e-6 {
					t.Fatalf("n=%d: exp(%v-%v) = %v want %v (rel %.3g)", n, v, m, dst[i], w, e)
				}
			}
			if e := relErr(float64(got), want, want); e > 1e-5 {
				t.Errorf("n=%d: sum %v want %v", n, got, want)
			}
			checkGuards(t, "dst", bd, n, 1)
		}
		// edges: underflow to exactly 0, -Inf masked entries, NaN propagates,
		// and the in-place form.
		x := []float32{0, -1, 1, -87, -88, -100, float32(math.Inf(-1)), float32(math.NaN()), 88, 0.5, -0.5}
		dst := append([]float32(nil), x...)
		ExpSub(dst, dst, 0)
		for i, v := range x {
			w := math.Exp(float64(v))
			switch {
			case v != v:
				if dst[i] == dst[i] {
					t.Errorf("exp(NaN) = %v", dst[i])
				}
			case v < -87.34:
				if dst[i] != 0 {
					t.Errorf("exp(%v) = %v, want 0", v, dst[i])
				}
			default:
				if e := relErr(float64(dst[i]), w, w); e > 1e-6 {
					t.Errorf("exp(%v) = %v, want %v", v, dst[i], w)
				}
			}
		}
	})
}

func TestVectorPanics(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"Dot", func() { Dot(make([]float32, 3), make([]float32, 4)) }},
		{"Axpy", func() { Axpy(1, make([]float32, 3), make([]float32, 4)) }},
		{"Add", func() { Add(make([]float32, 3), make([]float32, 4)) }},
		{"Mul", func() { Mul(make([]float32, 3), make([]float32, 3), make([]float32, 4)) }},
		{"ExpSub", func() { ExpSub(make([]float32, 3), make([]float32, 4), 0) }},
		{"Max", func() { Max(nil) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", c.name)
				}
			}()
			c.f()
		})
	}
}

func BenchmarkVector(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{64, 768, 50257} {
		_, x := guarded(rng, n, 0)
		_, y := guarded(rng, n, 0)
		ops := []struct {
			name string
			f    func()
		}{
			{"Dot", func() { Dot(x, y) }},
			{"Axpy", func() { Axpy(1e-9, x, y) }},
			{"Scale", func() { Scale(-1, y) }},
			{"Add", func() { Add(y, x) }},
			{"Mul", func() { Mul(y, x, x) }},
			{"Sum", func() { Sum(x) }},
			{"SumSq", func() { SumSq(x) }},
			{"Max", func() { Max(x) }},
			{"MaxAbs", func() { MaxAbs(x) }},
			{"ExpSub", func() { ExpSub(y, x, 1) }},
		}
		for _, impl := range impls() {
			for _, op := range ops {
				b.Run(fmt.Sprintf("%s/%s/%d", op.name, impl, n), func(b *testing.B) {
					selectImpl(impl)
					defer selectImpl("")
					b.SetBytes(int64(4 * n))
					for b.Loop() {
						op.f()
					}
				})
			}
		}
	}
}

// TestDotRowsAxpyRows checks the attention row kernels against float64 for
// key counts around the 4-row block, head sizes around the 8- and 32-wide
// blocks, and strides wider than a row.
func TestDotRowsAxpyRows(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, n := range []int{1, 3, 4, 5, 8, 17, 130} {
			for _, d := range []int{1, 7, 8, 24, 32, 40, 64, 96, 128} {
				ld := d + 3
				q := make([]float32, d)
				k := make([]float32, (n-1)*ld+d)
				p := make([]float32, n)
				for _, s := range [][]float32{q, k, p} {
					for i := range s {
						s[i] = float32(rng.NormFloat64())
					}
				}
				out := make([]float32, n)
				DotRows(out, 0.5, q, k, ld)
				for r := range out {
					var want, mag float64
					for i := range q {
						v := float64(q[i]) * float64(k[r*ld+i])
						want += v
						mag += math.Abs(v)
					}
					if e := relErr(float64(out[r]), 0.5*want, 0.5*mag); e > 1e-5 {
						t.Fatalf("DotRows n=%d d=%d row %d: %v want %v", n, d, r, out[r], 0.5*want)
					}
				}
				acc := make([]float32, d)
				for i := range acc {
					acc[i] = float32(i)
				}
				AxpyRows(acc, p, k, ld)
				for i := range acc {
					want, mag := float64(i), float64(i)
					for r := range p {
						v := float64(p[r]) * float64(k[r*ld+i])
						want += v
						mag += math.Abs(v)
					}
					if e := relErr(float64(acc[i]), want, mag); e > 1e-5 {
						t.Fatalf("AxpyRows n=%d d=%d col %d: %v want %v", n, d, i, acc[i], want)
					}
				}
			}
		}
	})
}

// BenchmarkAttentionRows times the decode-attention kernels at head size 64
// over 384 cached keys of a 4-KV-head cache (row stride 256).
func BenchmarkAttentionRows(b *testing.B) {
	const d, n, ld = 64, 384, 256
	q := make([]float32, d)
	k := make([]float32, (n-1)*ld+d)
	out := make([]float32, n)
	acc := make([]float32, d)
	for _, name := range impls() {
		b.Run("DotRows/"+name, func(b *testing.B) {
			selectImpl(name)
			defer selectImpl("")
			for b.Loop() {
				DotRows(out, 0.125, q, k, ld)
			}
		})
		b.Run("AxpyRows/"+name, func(b *testing.B) {
			selectImpl(name)
			defer selectImpl("")
			for b.Loop() {
				AxpyRows(acc, out, k, ld)
			}
		})
		b.Run("DotLoop/"+name, func(b *testing.B) {
			selectImpl(name)
			defer selectImpl("")
			for b.Loop() {
				for t := range out {
					out[t] = 0.125 * Dot(q, k[t*ld:t*ld+d])
				}
			}
		})
	}
}
