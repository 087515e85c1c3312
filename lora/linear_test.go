package lora

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// newLinear returns a random frozen linear (out, in), weights N(0, 0.5²).
func newLinear(rng *rand.Rand, out, in int, bias bool) *nn.Linear {
	l := &nn.Linear{W: tensor.From(testutil.RandN(rng, out*in, 0.5), out, in)}
	if bias {
		l.B = tensor.From(testutil.RandN(rng, out, 0.5), out)
	}
	return l
}

// randomAdapter puts a trainable adapter with random A and B on l.
func randomAdapter(rng *rand.Rand, l *nn.Linear, r int, alpha float64, dora bool) *Adapter {
	a := NewAdapter("default", "m", l, r, alpha, false, 7)
	copy(a.A.Data, testutil.RandN(rng, a.A.Len(), 0.5))
	copy(a.B.Data, testutil.RandN(rng, a.B.Len(), 0.5))
	if dora {
		d := NewDoRA(l.Out())
		a.Variant = d
		d.Init(a, l.W.Data)
		for i := range d.M.Data { // move m off its initial value
			d.M.Data[i] *= float32(1 + 0.3*rng.NormFloat64())
		}
	}
	a.EnableGrad()
	l.Delta = a
	return a
}

func TestOpsFixture(t *testing.T) {
	ops := testutil.Fixture(t, "ops", "ops.safetensors")
	x, w := testutil.Get(t, ops, "lora.x"), testutil.Get(t, ops, "lora.weight")
	A, B := testutil.Get(t, ops, "lora.A"), testutil.Get(t, ops, "lora.B")
	r, in, out := A.Shape[0], A.Shape[1], B.Shape[0]
	n := len(x.F) / in
	l := &nn.Linear{W: tensor.From(w.F32(), out, in)}
	a := NewAdapter("default", "lora", l, r, 2*float64(r), false, 1) // scaling 2
	copy(a.A.Data, A.F32())
	copy(a.B.Data, B.F32())
	l.Delta = a
	y := make([]float32, n*out)
	l.Forward(x.F32(), y, n)
	testutil.AllClose(t, "lora.y", y, testutil.Get(t, ops, "lora.y").F, 1e-5, 1e-6)

	merged := l.W.Clone()
	a.mergeInto(merged.Data, merged.Data)
	testutil.AllClose(t, "lora.weight_merged", merged.Data, testutil.Get(t, ops, "lora.weight_merged").F, 1e-6, 1e-7)

	// Conv1D layout: W0ᵀ + (s·B·A)ᵀ.
	conv := testutil.Get(t, ops, "lora.weight_conv1d").F
	d := a.DeltaWeight(true)
	got := make([]float64, len(conv))
	for i := range conv {
		got[i] = float64(float32(conv[i]) + d.Data[i])
	}
	testutil.AllClose(t, "lora.weight_conv1d_merged", got, testutil.Get(t, ops, "lora.weight_conv1d_merged").F, 1e-6, 1e-7)
}

// ref64 is the float64 reference forward of one adapted layer; norm, when
// not nil, holds DoRA's row norms fixed (PEFT's detached norm).
type ref64 struct {
	n, in, out, r int
	s             float64
	mask          []float64 // nil: no dropout
	dora          bool
	norm          []float64
}

func (f ref64) forward(x, w, a, b, m []float64) []float64 {
	n, in, out, r := f.n, f.in, f.out, f.r
	xd := x
	if f.mask != nil {
		xd = make([]float64, len(x))
		for i := range x {
			xd[i] = x[i] * f.mask[i]
		}
	}
	y := make([]float64, n*out)
	norm := f.norm
	if f.dora && norm == nil {
		norm = make([]float64, out)
		for o := 0; o < out; o++ {
			var ss float64
			for j := 0; j < in; j++ {
				v := w[o*in+j]
				for k := 0; k < r; k++ {
					v += f.s * b[o*r+k] * a[k*in+j]
				}
				ss += v * v
			}
			norm[o] = math.Sqrt(ss)
		}
	}
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			var base, based, lr float64
			for j := 0; j < in; j++ {
				base += w[o*in+j] * x[i*in+j]
				based += w[o*in+j] * xd[i*in+j]
			}
			for k := 0; k < r; k++ {
				var t float64
				for j := 0; j < in; j++ {
					t += a[k*in+j] * xd[i*in+j]
				}
				lr += f.s * b[o*r+k] * t
			}
			if !f.dora {
				y[i*out+o] = base + lr
				continue
			}
			ms := m[o] / norm[o]
			y[i*out+o] = base + (ms-1)*based + ms*lr
		}
	}
	return y
}

func TestGradientsFiniteDifference(t *testing.T) {
	cases := []struct {
		name          string
		dora          bool
		exact         bool
		dropout       float32
		rs            bool
		n, in, out, r int
	}{
		{name: "lora", n: 5, in: 7, out: 6, r: 3},
		{name: "lora/rslora", n: 3, in: 6, out: 9, r: 4, rs: true},
		{name: "lora/dropout", n: 4, in: 7, out: 5, r: 2, dropout: 0.3},
		{name: "dora/detached", dora: true, n: 5, in: 7, out: 6, r: 3},
		{name: "dora/exact", dora: true, exact: true, n: 5, in: 7, out: 6, r: 3},
		{name: "dora/dropout", dora: true, n: 4, in: 6, out: 5, r: 2, dropout: 0.25},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := testutil.NewRand(11)
			l := newLinear(rng, c.out, c.in, true)
			a := NewAdapter("default", "m", l, c.r, 5, c.rs, 3)
			copy(a.A.Data, testutil.RandN(rng, a.A.Len(), 0.5))
			copy(a.B.Data, testutil.RandN(rng, a.B.Len(), 0.5))
			var d *DoRA
			if c.dora {
				d = NewDoRA(c.out)
				d.ExactNormGrad = c.exact
				a.Variant = d
				d.Init(a, l.W.Data)
				for i := range d.M.Data {
					d.M.Data[i] *= float32(1 + 0.3*rng.NormFloat64())
				}
			}
			a.EnableGrad()
			a.Dropout, a.Train = c.dropout, c.dropout > 0
			l.Delta = a
			x := testutil.RandN(rng, c.n*c.in, 1)
			coef := testutil.RandN(rng, c.n*c.out, 1) // loss = Σ coef ⊙ y
			y := make([]float32, c.n*c.out)
			l.Forward(x, y, c.n)
			dx := make([]float32, c.n*c.in)
			l.Backward(x, coef, dx, c.n)

			f := ref64{n: c.n, in: c.in, out: c.out, r: c.r, s: float64(a.Scaling), dora: c.dora}
			if len(a.mask) > 0 {
				f.mask = testutil.To64(a.mask)
			}
			x64, w64 := testutil.To64(x), testutil.To64(l.W.Data)
			A64, B64 := testutil.To64(a.A.Data), testutil.To64(a.B.Data)
			var m64 []float64
			if c.dora {
				m64 = testutil.To64(d.M.Data)
				if !c.exact {
					f.norm = testutil.To64(d.norm)
				}
			}
			// The float32 forward agrees with the reference.
			want := f.forward(x64, w64, A64, B64, m64)
			for i := 0; i < c.n; i++ {
				for o := 0; o < c.out; o++ {
					want[i*c.out+o] += float64(l.B.Data[o])
				}
			}
			testutil.AllClose(t, "y", y, want, 1e-5, 1e-5)

			loss := func(y []float64) float64 {
				var s float64
				for i, v := range y {
					s += float64(coef[i]) * v
				}
				return s
			}
			check := func(name string, got []float32, p []float64, fwd func() []float64) {
				num := testutil.NumGrad(func([]float64) float64 { return loss(fwd()) }, p, 1e-6)
				testutil.GradClose(t, name, got, num, 1e-4, 1e-6)
			}
			fwd := func() []float64 { return f.forward(x64, w64, A64, B64, m64) }
			check("dA", a.DA.Data, A64, fwd)
			check("dB", a.DB.Data, B64, fwd)
			check("dx", dx, x64, fwd)
			if c.dora {
				check("dm", d.DM.Data, m64, fwd)
			}
		})
	}
}

func TestMergeUnmergeRestores(t *testing.T) {
	for _, dora := range []bool{false, true} {
		rng := testutil.NewRand(5)
		l := newLinear(rng, 24, 16, true)
		w0 := l.W.Clone()
		a := randomAdapter(rng, l, 4, 8, dora)
		n := 6
		x := testutil.RandN(rng, n*16, 1)
		yAd := make([]float32, n*24)
		l.Forward(x, yAd, n)

		a.mergeInto(l.W.Data, l.W.Data)
		l.Delta = nil
		yMerged := make([]float32, n*24)
		l.Forward(x, yMerged, n)
		// Relative to the largest output: single entries can cancel.
		testutil.GradClose(t, "merged vs adapter", yMerged, testutil.To64(yAd), 1e-5, 0)

		a.unmergeFrom(l.W.Data)
		testutil.AllClose(t, "unmerged W", l.W.Data, testutil.To64(w0.Data), 1e-6, 1e-6)
	}
}

func TestDropout(t *testing.T) {
	rng := testutil.NewRand(12)
	l := newLinear(rng, 8, 64, false)
	a := randomAdapter(rng, l, 4, 8, false)
	a.Dropout = 0.25
	n := 32
	x := testutil.RandN(rng, n*64, 1)
	y1, y2 := make([]float32, n*8), make([]float32, n*8)
	l.Forward(x, y1, n) // eval: no dropout
	if len(a.mask) != 0 {
		t.Fatal("dropout active outside training")
	}
	a.Train = true
	l.Forward(x, y2, n)
	zeros := 0
	for _, v := range a.mask {
		switch v {
		case 0:
			zeros++
		case 1 / 0.75:
		default:
			t.Fatalf("mask value %g, want 0 or 1/(1-p)", v)
		}
	}
	if frac := float64(zeros) / float64(len(a.mask)); frac < 0.2 || frac > 0.3 {
		t.Errorf("dropped fraction %g, want about 0.25", frac)
	}
	// A recompute (gradient checkpointing) over the same buffer replays the
	// mask; after the backward a new forward draws a new one.
	m1 := append([]float32(nil), a.mask...)
	y3 := make([]float32, n*8)
	l.Forward(x, y3, n)
	for i := range y3 {
		if y3[i] != y2[i] {
			t.Fatal("recomputed forward drew a new dropout mask")
		}
	}
	l.Backward(x, y3, nil, n)
	l.Forward(x, y3, n)
	same := true
	for i := range m1 {
		same = same && m1[i] == a.mask[i]
	}
	if same {
		t.Error("the next step reused the previous step's mask")
	}
}
