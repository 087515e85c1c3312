package core

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/internal/testutil"
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
	const N, C = 3, 8
	randn := func(n int, s float64) []float32 { return testutil.RandN(r, n, s) }
	ones := func(n int) []float32 {
		x := randn(n, 0.2)
		for i := range x {
			x[i] += 1
		}
		return x
	}
	const T, NH, D = 3, 4, 4
	rp := newRoPE(D, 10000, 8)
	cases := []opCase{
		{
			name: "rmsnorm", inputs: [][]float32{randn(N*C, 1), ones(C)},
			fwd: func(in [][]float32) []float32 {
				out := make([]float32, N*C)
				rmsNormForward(out, make([]float32, N), in[0], in[1], N, C, 1e-5)
				return out
			},
			bwd: func(in [][]float32, dout []float32) [][]float32 {
				out, rstd := make([]float32, N*C), make([]float32, N)
				rmsNormForward(out, rstd, in[0], in[1], N, C, 1e-5)
				dx, dw := make([]float32, N*C), make([]float32, C)
				rmsNormBackward(dx, dw, dout, in[0], in[1], rstd, N, C)
				return [][]float32{dx, dw}
			},
		},
		{
			name: "layernorm", inputs: [][]float32{randn(N*C, 1), ones(C), randn(C, 0.1)},
			fwd: func(in [][]float32) []float32 {
				out := make([]float32, N*C)
				layerNormForward(out, make([]float32, N), make([]float32, N), in[0], in[1], in[2], N, C, 1e-5)
				return out
			},
			bwd: func(in [][]float32, dout []float32) [][]float32 {
				out, mean, rstd := make([]float32, N*C), make([]float32, N), make([]float32, N)
				layerNormForward(out, mean, rstd, in[0], in[1], in[2], N, C, 1e-5)
				dx, dw, db := make([]float32, N*C), make([]float32, C), make([]float32, C)
				layerNormBackward(dx, dw, db, dout, in[0], in[1], mean, rstd, N, C)
				return [][]float32{dx, dw, db}
			},
		},
		unary("gelu_new", randn(20, 2), func(o, x []float32) { geluForward(o, x, false) }, func(dx, x, d []float32) { geluBackward(dx, x, d, false) }),
		unary("gelu_erf", randn(20, 2), func(o, x []float32) { geluForward(o, x, true) }, func(dx, x, d []float32) { geluBackward(dx, x, d, true) }),
		{
			name: "swiglu", inputs: [][]float32{randn(20, 2), randn(20, 1)},
			fwd: func(in [][]float32) []float32 {
				out := make([]float32, 20)
				swigluForward(out, in[0], in[1])
				return out
			},
			bwd: func(in [][]float32, dout []float32) [][]float32 {
				dg, du := make([]float32, 20), make([]float32, 20)
				swigluBackward(dg, du, in[0], in[1], dout)
				return [][]float32{dg, du}
			},
		},
		{
			name: "rope", inputs: [][]float32{randn(T*NH*D, 1)},
			fwd: func(in [][]float32) []float32 {
				out := append([]float32(nil), in[0]...)
				for tt := 0; tt < T; tt++ {
					rp.apply(out[tt*NH*D:(tt+1)*NH*D], NH, tt+3, false)
				}
				return out
			},
			bwd: func(in [][]float32, dout []float32) [][]float32 {
				dx := append([]float32(nil), dout...)
				for tt := 0; tt < T; tt++ {
					rp.apply(dx[tt*NH*D:(tt+1)*NH*D], NH, tt+3, true)
				}
				return [][]float32{dx}
			},
		},
	}
	// Short blocks use the dot-product path, long ones the GEMM path.
	for _, sz := range [][2]int{{3, 5}, {gemmMinT + 1, gemmMinT + 3}} {
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

	lx := get("layer_norm.x")
	C := len(get("layer_norm.weight"))
	N := len(lx) / C
	lo := make([]float32, len(lx))
	layerNormForward(lo, make([]float32, N), make([]float32, N), lx, get("layer_norm.weight"), get("layer_norm.bias"), N, C, 1e-5)
	testutil.AllClose(t, "layer_norm", lo, f["layer_norm.out"].F, 1e-5, 1e-5)

	rx := get("rms_norm.x")
	C = len(get("rms_norm.weight"))
	N = len(rx) / C
	ro := make([]float32, len(rx))
	rmsNormForward(ro, make([]float32, N), rx, get("rms_norm.weight"), N, C, 1e-5)
	testutil.AllClose(t, "rms_norm", ro, f["rms_norm.out"].F, 1e-5, 1e-5)

	// rope.x is [1, H, T, D]; ours rotates token rows [T, H, D].
	shape := f["rope.x"].Shape
	H, T, D := shape[1], shape[2], shape[3]
	rp := newRoPE(D, 10000, T)
	xr := get("rope.x")
	rows := make([]float32, len(xr))
	for h := 0; h < H; h++ {
		for tt := 0; tt < T; tt++ {
			copy(rows[(tt*H+h)*D:(tt*H+h+1)*D], xr[(h*T+tt)*D:(h*T+tt+1)*D])
		}
	}
	for tt := 0; tt < T; tt++ {
		rp.apply(rows[tt*H*D:(tt+1)*H*D], H, tt, false)
	}
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
	attentionForward([]seqAttn{{q: q, k: k, v: v, out: ao, T: T, Tk: T}}, attnDims{NH: NH, NKV: NKV, D: D, scale: 0.25})
	want, _, _, _ := toRows("attention.out")
	testutil.AllClose(t, "attention", ao, testutil.To64(want), 1e-5, 1e-5)

	logits := get("cross_entropy.logits")
	targets := testutil.Get(t, f, "cross_entropy.targets").Ints()
	V := len(logits) / len(targets)
	dl := make([]float32, len(logits))
	loss, n := crossEntropy(dl, logits, targets, len(targets), V, IgnoreIndex)
	if wl := f["cross_entropy.loss"].F[0]; math.Abs(loss-wl) > 1e-6 || n != len(targets) {
		t.Errorf("cross entropy %.9f over %d, want %.9f", loss, n, wl)
	}
	testutil.AllClose(t, "cross_entropy grad", dl, f["cross_entropy.grad_logits"].F, 1e-5, 1e-7)
}

func attentionCase(r *rand.Rand, T, Tk int) opCase {
	const NH, NKV, D = 4, 2, 4
	dims := attnDims{NH: NH, NKV: NKV, D: D, scale: 0.5}
	return opCase{
		name: fmt.Sprintf("attention-gqa-T%d-Tk%d", T, Tk), inputs: [][]float32{testutil.RandN(r, T*NH*D, 1), testutil.RandN(r, Tk*NKV*D, 1), testutil.RandN(r, Tk*NKV*D, 1)},
		fwd: func(in [][]float32) []float32 {
			out := make([]float32, T*NH*D)
			attentionForward([]seqAttn{{q: in[0], k: in[1], v: in[2], out: out, T: T, Tk: Tk}}, dims)
			return out
		},
		bwd: func(in [][]float32, dout []float32) [][]float32 {
			out := make([]float32, T*NH*D)
			s := []seqAttn{{q: in[0], k: in[1], v: in[2], out: out, T: T, Tk: Tk}}
			attentionForward(s, dims)
			s[0].dq, s[0].dk, s[0].dv, s[0].dout = make([]float32, len(in[0])), make([]float32, len(in[1])), make([]float32, len(in[2])), dout
			attentionBackward(s, dims)
			return [][]float32{s[0].dq, s[0].dk, s[0].dv}
		},
	}
}
