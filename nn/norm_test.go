package nn

import (
	"fmt"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

// Tolerances: forward kernels must match the float64 reference to 1e-5
// relative (with an absolute floor of 1e-6 times the output's scale, since
// normalised outputs cross zero); gradients within 2e-5 of the largest
// gradient entry, a few times float32 rounding over a row of 1000.
const (
	fwdRtol  = 1e-5
	gradRtol = 2e-5
	fdStep   = 1e-6
)

var rowShapes = []struct{ N, C int }{{1, 1}, {3, 3}, {2, 17}, {3, 63}, {2, 129}, {2, 1000}, {1, 1031}}

func fwdClose(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	tu.AllClose(t, name, got, want, fwdRtol, 1e-6*tu.MaxAbs(want)+1e-30)
}

func TestLayerNorm(t *testing.T) {
	for _, sh := range rowShapes {
		N, C := sh.N, sh.C
		t.Run(fmt.Sprintf("N%dC%d", N, C), func(t *testing.T) {
			r := tu.NewRand(uint64(N*1000 + C))
			x := tu.RandN(r, N*C, 1)
			for i := range x {
				x[i] += 3 // a nonzero mean exercises the two-pass variance
			}
			w, b := tu.RandN(r, C, 1), tu.RandN(r, C, 1)
			const eps = 1e-5
			out, mean, rstd := make([]float32, N*C), make([]float32, N), make([]float32, N)
			LayerNormForward(out, mean, rstd, x, w, b, N, C, eps)
			x64, w64, b64 := tu.To64(x), tu.To64(w), tu.To64(b)
			fwdClose(t, "out", out, layerNorm64(x64, w64, b64, N, C, eps))

			dout := tu.RandN(r, N*C, 1)
			d64 := tu.To64(dout)
			g0x, g0w, g0b := tu.RandN(r, N*C, 1), tu.RandN(r, C, 1), tu.RandN(r, C, 1)
			dx, dw, db := clone(g0x), clone(g0w), clone(g0b)
			LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd, N, C)
			fx := tu.NumGrad(func(p []float64) float64 { return dotLoss(layerNorm64(p, w64, b64, N, C, eps), d64) }, x64, fdStep)
			fw := tu.NumGrad(func(p []float64) float64 { return dotLoss(layerNorm64(x64, p, b64, N, C, eps), d64) }, w64, fdStep)
			fb := tu.NumGrad(func(p []float64) float64 { return dotLoss(layerNorm64(x64, w64, p, N, C, eps), d64) }, b64, fdStep)
			tu.GradClose(t, "dinp", diff(dx, g0x), fx, gradRtol, 1e-6)
			tu.GradClose(t, "dweight", diff(dw, g0w), fw, gradRtol, 1e-6)
			tu.GradClose(t, "dbias", diff(db, g0b), fb, gradRtol, 1e-6)

			// nil gradient buffers are skipped; no bias works.
			LayerNormBackward(nil, nil, nil, dout, x, w, mean, rstd, N, C)
			LayerNormForward(out, nil, nil, x, w, nil, N, C, eps)
			fwdClose(t, "out no bias", out, layerNorm64(x64, w64, make([]float64, C), N, C, eps))
		})
	}
}

func TestRMSNorm(t *testing.T) {
	for _, sh := range rowShapes {
		N, C := sh.N, sh.C
		t.Run(fmt.Sprintf("N%dC%d", N, C), func(t *testing.T) {
			r := tu.NewRand(uint64(N*1000 + C + 7))
			x, w := tu.RandN(r, N*C, 1), tu.RandN(r, C, 1)
			const eps = 1e-5
			out, rstd := make([]float32, N*C), make([]float32, N)
			RMSNormForward(out, rstd, x, w, N, C, eps)
			x64, w64 := tu.To64(x), tu.To64(w)
			fwdClose(t, "out", out, rmsNorm64(x64, w64, N, C, eps))

			dout := tu.RandN(r, N*C, 1)
			d64 := tu.To64(dout)
			g0x, g0w := tu.RandN(r, N*C, 1), tu.RandN(r, C, 1)
			dx, dw := clone(g0x), clone(g0w)
			RMSNormBackward(dx, dw, dout, x, w, rstd, N, C)
			fx := tu.NumGrad(func(p []float64) float64 { return dotLoss(rmsNorm64(p, w64, N, C, eps), d64) }, x64, fdStep)
			fw := tu.NumGrad(func(p []float64) float64 { return dotLoss(rmsNorm64(x64, p, N, C, eps), d64) }, w64, fdStep)
			tu.GradClose(t, "dinp", diff(dx, g0x), fx, gradRtol, 1e-6)
			tu.GradClose(t, "dweight", diff(dw, g0w), fw, gradRtol, 1e-6)
			RMSNormBackward(nil, nil, dout, x, w, rstd, N, C)
		})
	}
}

func TestNormAliasing(t *testing.T) {
	r := tu.NewRand(3)
	x, w, b := tu.RandN(r, 2*50, 1), tu.RandN(r, 50, 1), tu.RandN(r, 50, 1)
	want := make([]float32, len(x))
	LayerNormForward(want, nil, nil, x, w, b, 2, 50, 1e-5)
	LayerNormForward(x, nil, nil, x, w, b, 2, 50, 1e-5)
	tu.AllClose(t, "layernorm in place", x, tu.To64(want), 0, 0)
	RMSNormForward(want, nil, x, w, 2, 50, 1e-6)
	RMSNormForward(x, nil, x, w, 2, 50, 1e-6)
	tu.AllClose(t, "rmsnorm in place", x, tu.To64(want), 0, 0)
}

func clone(x []float32) []float32 { return append([]float32(nil), x...) }

// diff returns a - b in float64, exactly: what a backward added to its
// pre-filled gradient buffer.
func diff(a, b []float32) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = float64(a[i]) - float64(b[i])
	}
	return d
}

// TestAddNorm checks the fused residual add + norm against the add followed
// by the norm (bit for bit) and its backward (the norm's backward on the
// sum, the gradient of both summands) against finite differences of the
// float64 composition.
func TestAddNorm(t *testing.T) {
	sum64 := func(a, b []float64) []float64 {
		s := make([]float64, len(a))
		for i := range a {
			s[i] = a[i] + b[i]
		}
		return s
	}
	for _, sh := range rowShapes {
		N, C := sh.N, sh.C
		t.Run(fmt.Sprintf("N%dC%d", N, C), func(t *testing.T) {
			r := tu.NewRand(uint64(N*1000 + C + 11))
			res, add, w, b := tu.RandN(r, N*C, 2), tu.RandN(r, N*C, 1), tu.RandN(r, C, 1), tu.RandN(r, C, 1)
			a64, w64, b64 := tu.To64(add), tu.To64(w), tu.To64(b)
			const eps = 1e-5
			for _, ln := range []bool{true, false} {
				wantRes, want := clone(res), make([]float32, N*C)
				mean, rstd := make([]float32, N), make([]float32, N)
				for i := range wantRes {
					wantRes[i] += add[i]
				}
				gotRes, got := clone(res), make([]float32, N*C)
				gmean, grstd := make([]float32, N), make([]float32, N)
				norm64 := func(x []float64) []float64 { return rmsNorm64(x, w64, N, C, eps) }
				if ln {
					LayerNormForward(want, mean, rstd, wantRes, w, b, N, C, eps)
					AddLayerNormForward(got, gmean, grstd, gotRes, add, w, b, N, C, eps)
					norm64 = func(x []float64) []float64 { return layerNorm64(x, w64, b64, N, C, eps) }
				} else {
					RMSNormForward(want, rstd, wantRes, w, N, C, eps)
					AddRMSNormForward(got, grstd, gotRes, add, w, N, C, eps)
				}
				tu.AllClose(t, "res", gotRes, tu.To64(wantRes), 0, 0)
				tu.AllClose(t, "out", got, tu.To64(want), 0, 0)
				tu.AllClose(t, "mean", gmean, tu.To64(mean), 0, 0)
				tu.AllClose(t, "rstd", grstd, tu.To64(rstd), 0, 0)

				dout := tu.RandN(r, N*C, 1)
				d64, x64 := tu.To64(dout), tu.To64(res)
				dx := make([]float32, N*C)
				if ln {
					LayerNormBackward(dx, nil, nil, dout, gotRes, w, gmean, grstd, N, C)
				} else {
					RMSNormBackward(dx, nil, dout, gotRes, w, grstd, N, C)
				}
				fr := tu.NumGrad(func(p []float64) float64 { return dotLoss(norm64(sum64(p, a64)), d64) }, x64, fdStep)
				fa := tu.NumGrad(func(p []float64) float64 { return dotLoss(norm64(sum64(x64, p)), d64) }, a64, fdStep)
				tu.GradClose(t, "dres", tu.To64(dx), fr, gradRtol, 1e-6)
				tu.GradClose(t, "dadd", tu.To64(dx), fa, gradRtol, 1e-6)
			}
		})
	}
}
