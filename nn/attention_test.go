package nn

import (
	"fmt"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

type attnImpl struct {
	name string
	fwd  func(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions)
	bwd  func(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions)
}

var attnImpls = []attnImpl{
	{"dispatch", func(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
		AttentionForwardOpt(out, att, q, k, v, T, Tk, NH, NKV, D, *o)
	}, func(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
		AttentionBackwardOpt(dq, dk, dv, dout, att, q, k, v, T, Tk, NH, NKV, D, *o)
	}},
	{"fused", attentionForwardFused, attentionBackwardFused},
	{"gemm", attentionForwardGemm, attentionBackwardGemm},
}

// attnVariants: plain causal, a sliding window shorter than most shapes'
// Tk (and than a GEMM row block), and soft-capping with a window.
var attnVariants = []struct {
	name    string
	window  int
	softCap float32
}{{"causal", 0, 0}, {"window5", 5, 0}, {"window3-softcap", 3, 1.5}}

var attnShapes = []struct{ T, Tk, NH, NKV, D int }{
	{1, 1, 1, 1, 1},
	{3, 3, 2, 2, 4},    // MHA
	{1, 17, 4, 2, 8},   // decode step with a cache
	{5, 12, 6, 2, 8},   // chunk of new tokens after a cached prefix, group 3
	{17, 17, 4, 1, 16}, // MQA
	{63, 63, 2, 1, 3},  // odd head size
	{70, 100, 2, 1, 8}, // more than one row block, past prefix
}

func TestAttention(t *testing.T) {
	for _, sh := range attnShapes {
		T, Tk, NH, NKV, D := sh.T, sh.Tk, sh.NH, sh.NKV, sh.D
		for _, impl := range attnImpls {
			for _, vr := range attnVariants {
				t.Run(fmt.Sprintf("T%dTk%dNH%dNKV%dD%d/%s/%s", T, Tk, NH, NKV, D, impl.name, vr.name), func(t *testing.T) {
					r := tu.NewRand(uint64(T*1000 + Tk*10 + D))
					q, k, v := tu.RandN(r, T*NH*D, 1), tu.RandN(r, Tk*NKV*D, 1), tu.RandN(r, Tk*NKV*D, 1)
					scale := float32(0.7)
					o := &AttnOptions{Scale: scale, Window: vr.window, SoftCap: vr.softCap}
					out := make([]float32, T*NH*D)
					att := tu.RandN(r, NH*T*Tk, 1) // garbage the forward must overwrite
					impl.fwd(out, att, q, k, v, T, Tk, NH, NKV, D, o)
					q64, k64, v64 := tu.To64(q), tu.To64(k), tu.To64(v)
					ref := func(q, k, v []float64) []float64 {
						return attentionOpt64(q, k, v, T, Tk, NH, NKV, D, float64(scale), vr.window, float64(vr.softCap))
					}
					fwdClose(t, "out", out, ref(q64, k64, v64))
					noAtt := make([]float32, len(out))
					impl.fwd(noAtt, nil, q, k, v, T, Tk, NH, NKV, D, o)
					tu.AllClose(t, "out with att nil", noAtt, tu.To64(out), 0, 0)
					for h := 0; h < NH; h++ {
						for i := 0; i < T; i++ {
							lo, n := o.visible(i, T, Tk)
							for j := 0; j < Tk; j++ {
								if a := att[(h*T+i)*Tk+j]; a != 0 && (j < lo || j >= n) {
									t.Fatalf("att[%d,%d,%d] = %g outside the visible keys [%d, %d)", h, i, j, a, lo, n)
								}
							}
						}
					}

					dout := tu.RandN(r, T*NH*D, 1)
					d64 := tu.To64(dout)
					g0q, g0k, g0v := tu.RandN(r, len(q), 1), tu.RandN(r, len(k), 1), tu.RandN(r, len(v), 1)
					dq, dk, dv := clone(g0q), clone(g0k), clone(g0v)
					impl.bwd(dq, dk, dv, dout, att, q, k, v, T, Tk, NH, NKV, D, o)
					// Difference at most 48 elements of each input: the float64
					// reference costs O(T·Tk·NH·D) per evaluation.
					checkFD := func(name string, got []float32, g0 []float32, f func([]float64) float64, x []float64) {
						idx := tu.Sample(r, len(x), 48)
						want := tu.NumGradAt(f, x, fdStep, idx)
						all := diff(got, g0)
						sub := make([]float64, len(idx))
						for k, i := range idx {
							sub[k] = all[i]
						}
						tu.GradClose(t, name, sub, want, gradRtol, 1e-6)
					}
					checkFD("dq", dq, g0q, func(p []float64) float64 { return dotLoss(ref(p, k64, v64), d64) }, q64)
					checkFD("dk", dk, g0k, func(p []float64) float64 { return dotLoss(ref(q64, p, v64), d64) }, k64)
					checkFD("dv", dv, g0v, func(p []float64) float64 { return dotLoss(ref(q64, k64, p), d64) }, v64)

					// Each gradient alone (others nil) gives the same values.
					for _, which := range []string{"dq", "dk", "dv"} {
						var q1, k1, v1 []float32
						var want, g0 []float32
						switch which {
						case "dq":
							q1, want, g0 = clone(g0q), dq, g0q
						case "dk":
							k1, want, g0 = clone(g0k), dk, g0k
						case "dv":
							v1, want, g0 = clone(g0v), dv, g0v
						}
						impl.bwd(q1, k1, v1, dout, att, q, k, v, T, Tk, NH, NKV, D, o)
						got := q1
						if k1 != nil {
							got = k1
						} else if v1 != nil {
							got = v1
						}
						tu.AllClose(t, which+" alone", diff(got, g0), diff(want, g0), 1e-6, 1e-6)
					}
				})
			}
		}
	}
}

// Decode through a KV cache of capacity > Tk, one token at a time, must
// reproduce a full causal prefill.
func TestAttentionKVCacheDecode(t *testing.T) {
	const T, NH, NKV, D, capacity = 12, 4, 2, 8, 32
	r := tu.NewRand(5)
	q, k, v := tu.RandN(r, T*NH*D, 1), tu.RandN(r, T*NKV*D, 1), tu.RandN(r, T*NKV*D, 1)
	full := make([]float32, T*NH*D)
	AttentionForward(full, make([]float32, NH*T*T), q, k, v, T, T, NH, NKV, D, 0.3)

	kc, vc := make([]float32, capacity*NKV*D), make([]float32, capacity*NKV*D)
	got := make([]float32, T*NH*D)
	// prefill 5, then decode one by one
	copy(kc, k[:5*NKV*D])
	copy(vc, v[:5*NKV*D])
	AttentionForward(got, make([]float32, NH*5*5), q[:5*NH*D], kc[:5*NKV*D], vc[:5*NKV*D], 5, 5, NH, NKV, D, 0.3)
	for p := 5; p < T; p++ {
		copy(kc[p*NKV*D:], k[p*NKV*D:(p+1)*NKV*D])
		copy(vc[p*NKV*D:], v[p*NKV*D:(p+1)*NKV*D])
		Tk := p + 1
		AttentionForward(got[p*NH*D:], make([]float32, NH*Tk), q[p*NH*D:(p+1)*NH*D], kc[:Tk*NKV*D], vc[:Tk*NKV*D], 1, Tk, NH, NKV, D, 0.3)
	}
	// Outputs are O(1) averages of N(0,1) values; decode and prefill sum in
	// different orders, so a cancelling element can differ by a few ulps
	// of the terms (atol), not of itself.
	tu.AllClose(t, "decode", got, tu.To64(full), 1e-6, 1e-6)
}

func TestAttentionBadShape(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NH not a multiple of NKV did not panic")
		}
	}()
	AttentionForward(make([]float32, 48), make([]float32, 9), make([]float32, 48), make([]float32, 24), make([]float32, 24), 3, 3, 3, 2, 4, 1)
}
