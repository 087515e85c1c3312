package nn

import (
	"fmt"
	"math"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

var vecSizes = []int{1, 3, 17, 63, 129, 1000, 4099}

// elementwise ops: float32 kernel, float64 reference, and derivative.
var unaryOps = []struct {
	name string
	fwd  func(out, inp []float32)
	bwd  func(dinp, inp, dout []float32)
	ref  func(float64) float64
}{
	{"gelu", GeluForward, GeluBackward, gelu64},
	{"silu", SiLUForward, SiLUBackward, silu64},
}

func TestUnaryActivations(t *testing.T) {
	for _, op := range unaryOps {
		for _, n := range vecSizes {
			t.Run(fmt.Sprintf("%s/%d", op.name, n), func(t *testing.T) {
				r := tu.NewRand(uint64(n))
				x := tu.RandN(r, n, 3)
				out := make([]float32, n)
				op.fwd(out, x)
				x64 := tu.To64(x)
				tu.AllClose(t, "out", out, mapf(x64, op.ref), fwdRtol, 1e-7)

				dout := tu.RandN(r, n, 1)
				g0 := tu.RandN(r, n, 1)
				dx := clone(g0)
				op.bwd(dx, x, dout)
				// Elementwise: one central difference per element.
				want := make([]float64, n)
				for i, e := range x64 {
					want[i] = (op.ref(e+fdStep) - op.ref(e-fdStep)) / (2 * fdStep) * float64(dout[i])
				}
				tu.AllClose(t, "dinp", diff(dx, g0), want, 1e-5, 1e-6)
			})
		}
	}
}

// The tails must saturate without NaN: the sigmoid form of gelu_new and
// silu meets exp overflow there.
func TestActivationTails(t *testing.T) {
	x := []float32{-1000, -100, -90, -88, -20, -1e-30, 0, 1e-30, 20, 88, 90, 100, 1000}
	x64 := tu.To64(x)
	for _, op := range unaryOps {
		t.Run(op.name, func(t *testing.T) {
			out := make([]float32, len(x))
			op.fwd(out, x)
			tu.AllClose(t, "out", out, mapf(x64, op.ref), fwdRtol, 1e-30)
			dx := make([]float32, len(x))
			op.bwd(dx, x, make([]float32, len(x)))
			for i, v := range dx {
				if v != 0 {
					t.Errorf("x=%g: gradient %g from zero dout", x[i], v)
				}
			}
		})
	}
}

func TestSwiGLU(t *testing.T) {
	for _, n := range vecSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := tu.NewRand(uint64(n) + 99)
			gate, up := tu.RandN(r, n, 3), tu.RandN(r, n, 1)
			out := make([]float32, n)
			SwiGLUForward(out, gate, up)
			g64, u64 := tu.To64(gate), tu.To64(up)
			tu.AllClose(t, "out", out, swiglu64(g64, u64), fwdRtol, 1e-7)

			dout := tu.RandN(r, n, 1)
			d64 := tu.To64(dout)
			g0g, g0u := tu.RandN(r, n, 1), tu.RandN(r, n, 1)
			dg, du := clone(g0g), clone(g0u)
			SwiGLUBackward(dg, du, gate, up, dout)
			if n <= 1000 {
				fg := tu.NumGrad(func(p []float64) float64 { return dotLoss(swiglu64(p, u64), d64) }, g64, fdStep)
				fu := tu.NumGrad(func(p []float64) float64 { return dotLoss(swiglu64(g64, p), d64) }, u64, fdStep)
				tu.AllClose(t, "dgate", diff(dg, g0g), fg, 1e-5, 1e-6)
				tu.AllClose(t, "dup", diff(du, g0u), fu, 1e-5, 1e-6)
			}
			SwiGLUBackward(nil, nil, gate, up, dout)
			// in place on gate
			SwiGLUForward(gate, gate, up)
			tu.AllClose(t, "in place", gate, tu.To64(out), 0, 0)
		})
	}
}

func TestGeGLU(t *testing.T) {
	for _, n := range vecSizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := tu.NewRand(uint64(n) + 99)
			gate, up := tu.RandN(r, n, 3), tu.RandN(r, n, 1)
			out := make([]float32, n)
			GeGLUForward(out, gate, up)
			g64, u64 := tu.To64(gate), tu.To64(up)
			tu.AllClose(t, "out", out, geglu64(g64, u64), fwdRtol, 1e-7)

			dout := tu.RandN(r, n, 1)
			d64 := tu.To64(dout)
			g0g, g0u := tu.RandN(r, n, 1), tu.RandN(r, n, 1)
			dg, du := clone(g0g), clone(g0u)
			GeGLUBackward(dg, du, gate, up, dout)
			if n <= 1000 {
				fg := tu.NumGrad(func(p []float64) float64 { return dotLoss(geglu64(p, u64), d64) }, g64, fdStep)
				fu := tu.NumGrad(func(p []float64) float64 { return dotLoss(geglu64(g64, p), d64) }, u64, fdStep)
				tu.AllClose(t, "dgate", diff(dg, g0g), fg, 1e-5, 1e-6)
				tu.AllClose(t, "dup", diff(du, g0u), fu, 1e-5, 1e-6)
			}
			GeGLUBackward(nil, nil, gate, up, dout)
			// in place on gate
			GeGLUForward(gate, gate, up)
			tu.AllClose(t, "in place", gate, tu.To64(out), 0, 0)
		})
	}
}

func TestSoftmax(t *testing.T) {
	for _, sh := range rowShapes {
		N, C := sh.N, sh.C
		t.Run(fmt.Sprintf("N%dC%d", N, C), func(t *testing.T) {
			r := tu.NewRand(uint64(N*31 + C))
			x := tu.RandN(r, N*C, 4)
			x[0] += 500 // stability: a huge logit must not overflow
			out := make([]float32, N*C)
			SoftmaxForward(out, x, N, C)
			x64 := tu.To64(x)
			tu.AllClose(t, "out", out, softmax64(x64, N, C), fwdRtol, 1e-12)

			dout := tu.RandN(r, N*C, 1)
			d64 := tu.To64(dout)
			g0 := tu.RandN(r, N*C, 1)
			x[0] -= 500 // finite differences need a softmax that is not saturated
			x64 = tu.To64(x)
			SoftmaxForward(out, x, N, C)
			dx := clone(g0)
			SoftmaxBackward(dx, dout, out, N, C)
			f := tu.NumGrad(func(p []float64) float64 { return dotLoss(softmax64(p, N, C), d64) }, x64, fdStep)
			tu.GradClose(t, "dinp", diff(dx, g0), f, gradRtol, 1e-7)
		})
	}
}

// biasGelu64 is gelu(f + b) row by row, in float64.
func biasGelu64(f, b []float64) []float64 {
	y := make([]float64, len(f))
	for i, v := range f {
		y[i] = gelu64(v + b[i%len(b)])
	}
	return y
}

// TestBiasGelu checks the fused bias+GELU against AddBias then GeluForward
// (bit for bit, odd shapes, rows wider than a chunk), and its backward
// (GeluBackward on the biased f, the bias gradient summed over rows, as
// Linear.Backward does) against finite differences of the float64
// composition.
func TestBiasGelu(t *testing.T) {
	for _, sh := range [][2]int{{1, 1}, {3, 17}, {5, 513}, {2, 1100}, {8, 1000}} {
		N, C := sh[0], sh[1]
		t.Run(fmt.Sprintf("%dx%d", N, C), func(t *testing.T) {
			r := tu.NewRand(uint64(N*C) + 7)
			f, bias := tu.RandN(r, N*C, 2), tu.RandN(r, C, 1)
			f64, b64 := tu.To64(f), tu.To64(bias)

			want, wantF := make([]float32, N*C), clone(f)
			AddBias(wantF, bias, N)
			GeluForward(want, wantF)
			out, fb := make([]float32, N*C), clone(f)
			BiasGeluForward(out, fb, bias, N)
			tu.AllClose(t, "biased f", fb, tu.To64(wantF), 0, 0)
			tu.AllClose(t, "out", out, tu.To64(want), 0, 0)
			tu.AllClose(t, "out vs float64", out, biasGelu64(f64, b64), fwdRtol, 1e-7)

			dout := tu.RandN(r, N*C, 1)
			d64 := tu.To64(dout)
			df := make([]float32, N*C)
			GeluBackward(df, fb, dout)
			db := make([]float64, C)
			for i, v := range df {
				db[i%C] += float64(v)
			}
			if N*C <= 2000 {
				ff := tu.NumGrad(func(p []float64) float64 { return dotLoss(biasGelu64(p, b64), d64) }, f64, fdStep)
				tu.AllClose(t, "df", df, ff, 1e-5, 1e-6)
			}
			fbias := tu.NumGrad(func(p []float64) float64 { return dotLoss(biasGelu64(f64, p), d64) }, b64, fdStep)
			tu.AllClose(t, "dbias", db, fbias, 1e-5, 1e-6*float64(N)) // N rows of float32 error
		})
	}
}

// The Set backwards overwrite whatever their outputs held (NaN here) with
// what the accumulating ones add to zeros.
func TestBackwardSet(t *testing.T) {
	r := tu.NewRand(7)
	n := 1001
	x, up, dout := tu.RandN(r, n, 3), tu.RandN(r, n, 1), tu.RandN(r, n, 1)
	nan := func() []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(math.NaN())
		}
		return s
	}
	acc, set := make([]float32, n), nan()
	GeluBackward(acc, x, dout)
	GeluBackwardSet(set, x, dout)
	tu.AllClose(t, "GeluBackwardSet", set, tu.To64(acc), 0, 0)
	accG, accU, setG, setU := make([]float32, n), make([]float32, n), nan(), nan()
	SwiGLUBackward(accG, accU, x, up, dout)
	SwiGLUBackwardSet(setG, setU, x, up, dout)
	tu.AllClose(t, "SwiGLUBackwardSet dgate", setG, tu.To64(accG), 0, 0)
	tu.AllClose(t, "SwiGLUBackwardSet dup", setU, tu.To64(accU), 0, 0)
	accG, accU, setG, setU = make([]float32, n), make([]float32, n), nan(), nan()
	GeGLUBackward(accG, accU, x, up, dout)
	GeGLUBackwardSet(setG, setU, x, up, dout)
	tu.AllClose(t, "GeGLUBackwardSet dgate", setG, tu.To64(accG), 0, 0)
	tu.AllClose(t, "GeGLUBackwardSet dup", setU, tu.To64(accU), 0, 0)
}
