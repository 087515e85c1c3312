package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/nn"
)

// opCase is one layer op as a function of its inputs, with its backward.
type opCase struct {
	name   string
	inputs [][]float32
	fwd    func(in [][]float32) []float32
	bwd    func(in [][]float32, dout []float32) [][]float32 // grads of every input
}

// TestOpGradients checks every op's backward against central finite
// differences of L = Σ out·R (R random) for every input element. Sums are
// in float64; the ops are float32, so h = 1e-2 and the tolerance is 1e-3 of
// the largest gradient.
func TestOpGradients(t *testing.T) {
	r := testutil.NewRand(1)
	randn := func(n int, s float64) []float32 { return testutil.RandN(r, n, s) }
	// Norms, tanh GELU, SwiGLU, RoPE and cross-entropy are nn's and tested
	// there; these are the ops the block adds or wraps.
	const T, NH, NKV, D = 3, 4, 2, 4
	rp := nn.NewRoPE(D, 8, 10000, false)
	// Two spans of ragged positions, as a decode step over two cache rows.
	spans := []span{{start: 0, n: 1, pos0: 5}, {start: 1, n: T - 1, pos0: 2}}
	cases := []opCase{
		unary("gelu_new", randn(20, 2), func(o, x []float32) { geluForward(o, x, false) }, func(dx, x, d []float32) { geluBackward(dx, x, d, false) }),
		unary("gelu_erf", randn(20, 2), func(o, x []float32) { geluForward(o, x, true) }, func(dx, x, d []float32) { geluBackward(dx, x, d, true) }),
		{
			name: "rope-spans", inputs: [][]float32{randn(T*NH*D, 1), randn(T*NKV*D, 1)},
			fwd: func(in [][]float32) []float32 {
				q, k := append([]float32(nil), in[0]...), append([]float32(nil), in[1]...)
				ropeSpans(rp, q, k, NH*D, NKV*D, NH, NKV, spans, false)
				return append(q, k...)
			},
			bwd: func(in [][]float32, dout []float32) [][]float32 {
				dq := append([]float32(nil), dout[:T*NH*D]...)
				dk := append([]float32(nil), dout[T*NH*D:]...)
				ropeSpans(rp, dq, dk, NH*D, NKV*D, NH, NKV, spans, true)
				return [][]float32{dq, dk}
			},
		},
		{
			// q and k side by side in each row, as in a fused q|k|v output
			name: "rope-spans-strided", inputs: [][]float32{randn(T*(NH+NKV)*D, 1)},
			fwd: func(in [][]float32) []float32 {
				x := append([]float32(nil), in[0]...)
				ropeSpans(rp, x, x[NH*D:], (NH+NKV)*D, (NH+NKV)*D, NH, NKV, spans, false)
				return x
			},
			bwd: func(in [][]float32, dout []float32) [][]float32 {
				dx := append([]float32(nil), dout...)
				ropeSpans(rp, dx, dx[NH*D:], (NH+NKV)*D, (NH+NKV)*D, NH, NKV, spans, true)
				return [][]float32{dx}
			},
		},
	}
	// Short blocks use nn's dot-product path, long ones its GEMM path.
	for _, sz := range [][2]int{{3, 5}, {9, 11}} {
		cases = append(cases, attentionCase(r, sz[0], sz[1]))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.fwd(tc.inputs)
			R := randn(len(out), 1)
			loss := func() float64 {
				var s float64
				for i, v := range tc.fwd(tc.inputs) {
					s += float64(v) * float64(R[i])
				}
				return s
			}
			grads := tc.bwd(tc.inputs, R)
			for k, x := range tc.inputs {
				g := grads[k]
				gmax := testutil.MaxAbs(g)
				for i := range x {
					x0 := x[i]
					h := float32(1e-2)
					x[i] = x0 + h
					lp := loss()
					x[i] = x0 - h
					lm := loss()
					x[i] = x0
					fd := (lp - lm) / float64(2*h)
					if e := math.Abs(fd - float64(g[i])); e > 1e-3*gmax+1e-5 {
						t.Errorf("input %d [%d]: backward %.6g, finite difference %.6g", k, i, g[i], fd)
					}
				}
			}
		})
	}
}

func unary(name string, x []float32, fwd func(out, x []float32), bwd func(dx, x, dout []float32)) opCase {
	return opCase{
		name: name, inputs: [][]float32{x},
		fwd: func(in [][]float32) []float32 {
			out := make([]float32, len(in[0]))
			fwd(out, in[0])
			return out
		},
		bwd: func(in [][]float32, dout []float32) [][]float32 {
			dx := make([]float32, len(in[0]))
			bwd(dx, in[0], dout)
			return [][]float32{dx}
		},
	}
}

// TestOpsFixture compares the forward ops with the float64 references of
// ../shared/fixtures/ops.
func TestOpsFixture(t *testing.T) {
	f := testutil.Fixture(t, "ops", "ops.safetensors")
	get := func(n string) []float32 { return testutil.Get(t, f, n).F32() }
	x := get("act.x")
	out := make([]float32, len(x))
	geluForward(out, x, false)
	testutil.AllClose(t, "gelu_new", out, f["act.gelu_new"].F, 1e-6, 1e-6)
	geluForward(out, x, true)
	testutil.AllClose(t, "gelu_erf", out, f["act.gelu_erf"].F, 1e-6, 1e-6)

	// rope.x is [1, H, T, D]; ours rotates token rows [T, H, D].
	shape := f["rope.x"].Shape
	H, T, D := shape[1], shape[2], shape[3]
	rp := nn.NewRoPE(D, T, 10000, false)
	xr := get("rope.x")
	rows := make([]float32, len(xr))
	for h := 0; h < H; h++ {
		for tt := 0; tt < T; tt++ {
			copy(rows[(tt*H+h)*D:(tt*H+h+1)*D], xr[(h*T+tt)*D:(h*T+tt+1)*D])
		}
	}
	// Split into spans at other positions, so the span offsets are checked
	// against the reference too.
	ropeSpans(rp, rows, make([]float32, T*H*D), H*D, H*D, H, H, []span{{0, 1, 0}, {1, T - 1, 1}}, false)
	back := make([]float32, len(rows))
	for h := 0; h < H; h++ {
		for tt := 0; tt < T; tt++ {
			copy(back[(h*T+tt)*D:(h*T+tt+1)*D], rows[(tt*H+h)*D:(tt*H+h+1)*D])
		}
	}
	testutil.AllClose(t, "rope", back, f["rope.out"].F, 1e-5, 1e-5)

	// attention.{q,k,v} are [1, heads, T, D].
	toRows := func(name string) ([]float32, int, int, int) {
		a := f[name]
		h, n, d := a.Shape[1], a.Shape[2], a.Shape[3]
		src := a.F32()
		out := make([]float32, len(src))
		for i := 0; i < h; i++ {
			for j := 0; j < n; j++ {
				copy(out[(j*h+i)*d:(j*h+i+1)*d], src[(i*n+j)*d:(i*n+j+1)*d])
			}
		}
		return out, h, n, d
	}
	q, NH, T, D := toRows("attention.q")
	k, NKV, _, _ := toRows("attention.k")
	v, _, _, _ := toRows("attention.v")
	ao := make([]float32, len(q))
	attentionForward([]nn.AttnSeq{{Q: q, K: k, V: v, Out: ao, T: T, Tk: T}}, attnDims{NH: NH, NKV: NKV, D: D, opt: nn.AttnOptions{Scale: 0.25}})
	want, _, _, _ := toRows("attention.out")
	testutil.AllClose(t, "attention", ao, testutil.To64(want), 1e-5, 1e-5)

}

func attentionCase(r *rand.Rand, T, Tk int) opCase {
	const NH, NKV, D = 4, 2, 4
	dims := attnDims{NH: NH, NKV: NKV, D: D, opt: nn.AttnOptions{Scale: 0.5}}
	return opCase{
		name: fmt.Sprintf("attention-gqa-T%d-Tk%d", T, Tk), inputs: [][]float32{testutil.RandN(r, T*NH*D, 1), testutil.RandN(r, Tk*NKV*D, 1), testutil.RandN(r, Tk*NKV*D, 1)},
		fwd: func(in [][]float32) []float32 {
			out := make([]float32, T*NH*D)
			attentionForward([]nn.AttnSeq{{Q: in[0], K: in[1], V: in[2], Out: out, T: T, Tk: Tk}}, dims)
			return out
		},
		bwd: func(in [][]float32, dout []float32) [][]float32 {
			out := make([]float32, T*NH*D)
			s := []nn.AttnSeq{{Q: in[0], K: in[1], V: in[2], Out: out, LSE: make([]float32, NH*T), T: T, Tk: Tk}}
			attentionForward(s, dims)
			s[0].DQ, s[0].DK, s[0].DV, s[0].DOut = make([]float32, len(in[0])), make([]float32, len(in[1])), make([]float32, len(in[2])), dout
			attentionBackward(s, dims)
			return [][]float32{s[0].DQ, s[0].DK, s[0].DV}
		},
	}
}
