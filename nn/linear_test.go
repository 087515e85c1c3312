package nn

import (
	"fmt"
	"math"
	"sync"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tensor"
)

// loraDelta is a minimal additive Delta, y += s·(x·Aᵀ)·Bᵀ, standing in for
// the lora package to exercise the hook contract.
type loraDelta struct {
	in, out, r int
	s          float32
	A, B       []float32 // (r, in), (out, r)
	dA, dB     []float32
	h          []float32 // (n, r) cached x·Aᵀ
}

func (d *loraDelta) Forward(x, y []float32, n int) {
	d.h = make([]float32, n*d.r)
	for i := 0; i < n; i++ {
		for k := 0; k < d.r; k++ {
			for j := 0; j < d.in; j++ {
				d.h[i*d.r+k] += x[i*d.in+j] * d.A[k*d.in+j]
			}
		}
		for o := 0; o < d.out; o++ {
			var s float32
			for k := 0; k < d.r; k++ {
				s += d.h[i*d.r+k] * d.B[o*d.r+k]
			}
			y[i*d.out+o] += d.s * s
		}
	}
}

func (d *loraDelta) Backward(x, dy, dx []float32, n int) []float32 {
	for i := 0; i < n; i++ {
		dh := make([]float32, d.r)
		for o := 0; o < d.out; o++ {
			g := d.s * dy[i*d.out+o]
			for k := 0; k < d.r; k++ {
				d.dB[o*d.r+k] += g * d.h[i*d.r+k]
				dh[k] += g * d.B[o*d.r+k]
			}
		}
		for k := 0; k < d.r; k++ {
			for j := 0; j < d.in; j++ {
				d.dA[k*d.in+j] += dh[k] * x[i*d.in+j]
				if dx != nil {
					dx[i*d.in+j] += dh[k] * d.A[k*d.in+j]
				}
			}
		}
	}
	return dy
}

// scaleDelta rescales each output column, y_o ← m_o·y_o (DoRA-like), so the
// frozen path's gradient is dy·m, not dy.
type scaleDelta struct {
	m, dm []float32 // (out)
	y0    []float32 // (n, out) W0·x cached
}

func (d *scaleDelta) Forward(x, y []float32, n int) {
	d.y0 = clone(y[:n*len(d.m)])
	for i := 0; i < n; i++ {
		for o, m := range d.m {
			y[i*len(d.m)+o] *= m
		}
	}
}

func (d *scaleDelta) Backward(x, dy, dx []float32, n int) []float32 {
	out := len(d.m)
	dBase := make([]float32, n*out)
	for i := 0; i < n; i++ {
		for o, m := range d.m {
			d.dm[o] += dy[i*out+o] * d.y0[i*out+o]
			dBase[i*out+o] = dy[i*out+o] * m
		}
	}
	return dBase
}

// linear64 is y = delta(x·Wᵀ) + b in float64; kind selects the delta.
func linear64(x, w, b, p1, p2 []float64, n, in, out, r int, s float64, kind string) []float64 {
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			var acc float64
			for j := 0; j < in; j++ {
				acc += x[i*in+j] * w[o*in+j]
			}
			switch kind {
			case "lora": // p1 = A (r, in), p2 = B (out, r)
				for k := 0; k < r; k++ {
					var h float64
					for j := 0; j < in; j++ {
						h += x[i*in+j] * p1[k*in+j]
					}
					acc += s * h * p2[o*r+k]
				}
			case "scale": // p1 = m (out)
				acc *= p1[o]
			}
			if b != nil {
				acc += b[o]
			}
			y[i*out+o] = acc
		}
	}
	return y
}

func TestLinear(t *testing.T) {
	for _, tc := range []struct {
		kind        string
		n, in, out  int
		bias, dxNil bool
	}{
		{"plain", 1, 1, 1, false, false},
		{"plain", 3, 17, 5, true, false},
		{"plain", 7, 63, 33, true, true},
		{"lora", 5, 24, 16, true, false},
		{"lora", 3, 17, 9, false, false},
		{"scale", 4, 19, 7, true, false},
		{"scale", 2, 8, 129, false, false},
	} {
		t.Run(fmt.Sprintf("%s/n%din%dout%d/bias=%v", tc.kind, tc.n, tc.in, tc.out, tc.bias), func(t *testing.T) {
			n, in, out, rank := tc.n, tc.in, tc.out, 4
			rnd := tu.NewRand(uint64(n*in*out) + uint64(len(tc.kind)))
			l := &Linear{W: tensor.From(tu.RandN(rnd, out*in, 0.3), out, in), DW: tensor.New(out, in)}
			copy(l.DW.Data, tu.RandN(rnd, out*in, 1))
			var b64 []float64
			if tc.bias {
				l.B = tensor.From(tu.RandN(rnd, out, 0.3), out)
				l.DB = tensor.From(tu.RandN(rnd, out, 1), out)
				b64 = tu.To64(l.B.Data)
			}
			var p1, p2 []float64
			const s = 2
			var lora *loraDelta
			var sc *scaleDelta
			switch tc.kind {
			case "lora":
				lora = &loraDelta{in: in, out: out, r: rank, s: s,
					A: tu.RandN(rnd, rank*in, 0.3), B: tu.RandN(rnd, out*rank, 0.3),
					dA: make([]float32, rank*in), dB: make([]float32, out*rank)}
				l.Delta = lora
				p1, p2 = tu.To64(lora.A), tu.To64(lora.B)
			case "scale":
				sc = &scaleDelta{m: tu.RandN(rnd, out, 1), dm: make([]float32, out)}
				l.Delta = sc
				p1 = tu.To64(sc.m)
			}
			x := tu.RandN(rnd, n*in, 1)
			y := tu.RandN(rnd, n*out, 1) // garbage: Forward overwrites
			l.Forward(x, y, n)
			x64, w64 := tu.To64(x), tu.To64(l.W.Data)
			f := func(x, w, b, p1, p2 []float64) []float64 {
				return linear64(x, w, b, p1, p2, n, in, out, rank, s, tc.kind)
			}
			tu.AllClose(t, "y", y, f(x64, w64, b64, p1, p2), 1e-5, 1e-6)

			dy := tu.RandN(rnd, n*out, 1)
			d64 := tu.To64(dy)
			g0x, g0w := tu.RandN(rnd, n*in, 1), clone(l.DW.Data)
			var dx []float32
			if !tc.dxNil {
				dx = clone(g0x)
			}
			var g0b []float32
			if tc.bias {
				g0b = clone(l.DB.Data)
			}
			l.Backward(x, dy, dx, n)
			loss := func(x, w, b, p1, p2 []float64) float64 { return dotLoss(f(x, w, b, p1, p2), d64) }
			if dx != nil {
				tu.GradClose(t, "dx", diff(dx, g0x), tu.NumGrad(func(p []float64) float64 { return loss(p, w64, b64, p1, p2) }, x64, fdStep), gradRtol, 1e-6)
			}
			tu.GradClose(t, "DW", diff(l.DW.Data, g0w), tu.NumGrad(func(p []float64) float64 { return loss(x64, p, b64, p1, p2) }, w64, fdStep), gradRtol, 1e-6)
			if tc.bias {
				tu.GradClose(t, "DB", diff(l.DB.Data, g0b), tu.NumGrad(func(p []float64) float64 { return loss(x64, w64, p, p1, p2) }, b64, fdStep), gradRtol, 1e-6)
			}
			switch tc.kind {
			case "lora":
				tu.GradClose(t, "dA", lora.dA, tu.NumGrad(func(p []float64) float64 { return loss(x64, w64, b64, p, p2) }, p1, fdStep), gradRtol, 1e-6)
				tu.GradClose(t, "dB", lora.dB, tu.NumGrad(func(p []float64) float64 { return loss(x64, w64, b64, p1, p) }, p2, fdStep), gradRtol, 1e-6)
			case "scale":
				tu.GradClose(t, "dm", sc.dm, tu.NumGrad(func(p []float64) float64 { return loss(x64, w64, b64, p, p2) }, p1, fdStep), gradRtol, 1e-6)
			}
		})
	}
}

// Frozen layer: nil DW and DB, only dx.
func TestLinearFrozen(t *testing.T) {
	rnd := tu.NewRand(2)
	l := &Linear{W: tensor.From(tu.RandN(rnd, 6, 1), 3, 2), B: tensor.From(tu.RandN(rnd, 3, 1), 3)}
	x, dy := tu.RandN(rnd, 4, 1), tu.RandN(rnd, 6, 1)
	y := make([]float32, 6)
	l.Forward(x, y, 2)
	dx := make([]float32, 4)
	l.Backward(x, dy, dx, 2)
	l.Backward(x, dy, nil, 2)
	want := make([]float64, 4)
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			for o := 0; o < 3; o++ {
				want[i*2+j] += float64(dy[i*3+o]) * float64(l.W.Data[o*2+j])
			}
		}
	}
	tu.AllClose(t, "dx", dx, want, 1e-6, 1e-7)
}

// The PEFT LoRA reference in fixtures/ops: y = x·Wᵀ + 2·(x·Aᵀ)·Bᵀ.
func TestLinearLoRAFixture(t *testing.T) {
	m := tu.Fixture(t, "ops", "ops.safetensors")
	w, A, B, x := tu.Get(t, m, "lora.weight"), tu.Get(t, m, "lora.A"), tu.Get(t, m, "lora.B"), tu.Get(t, m, "lora.x")
	out, in, r, n := w.Shape[0], w.Shape[1], A.Shape[0], x.Shape[0]
	l := &Linear{W: tensor.From(w.F32(), out, in), Delta: &loraDelta{in: in, out: out, r: r, s: 2, A: A.F32(), B: B.F32()}}
	y := make([]float32, n*out)
	l.Forward(x.F32(), y, n)
	tu.AllClose(t, "lora.y", y, tu.Get(t, m, "lora.y").F, 1e-5, 1e-6)
}

// ForwardThen must give Forward's bits (bias inside the product's region
// or not, with a Delta or without) and run then on every output column of
// every row once, after the column is final.
func TestLinearForwardThen(t *testing.T) {
	rnd := tu.NewRand(5)
	for _, n := range []int{1, 3, 4, 7} {
		for _, kind := range []string{"plain", "bias", "lora"} {
			in, out := 517, 1030 // above the threaded product's threshold at n = 1
			l := &Linear{W: tensor.From(tu.RandN(rnd, out*in, 1), out, in)}
			if kind != "plain" {
				l.B = tensor.From(tu.RandN(rnd, out, 1), out)
			}
			if kind == "lora" {
				l.Delta = &loraDelta{in: in, out: out, r: 3, s: 0.5, A: tu.RandN(rnd, 3*in, 1), B: tu.RandN(rnd, out*3, 1)}
			}
			x := tu.RandN(rnd, n*in, 1)
			want, y, z := make([]float32, n*out), make([]float32, n*out), make([]float32, n*out)
			l.Forward(x, want, n)
			seen := make([]int32, out)
			var mu sync.Mutex
			l.ForwardThen(x, y, n, func(lo, hi int) {
				mu.Lock()
				defer mu.Unlock()
				for j := lo; j < hi; j++ {
					seen[j]++
					for i := range n {
						z[i*out+j] = 2 * y[i*out+j]
					}
				}
			})
			for j, c := range seen {
				if c != 1 {
					t.Fatalf("%s n=%d: then ran %d times on column %d", kind, n, c, j)
				}
			}
			for k := range want {
				if math.Float32bits(y[k]) != math.Float32bits(want[k]) || z[k] != 2*want[k] {
					t.Fatalf("%s n=%d: y[%d] = %g, then saw %g; Forward %g", kind, n, k, y[k], z[k]/2, want[k])
				}
			}
		}
	}
}
