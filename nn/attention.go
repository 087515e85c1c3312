package nn

import (
	"math"
	"strconv"

	"github.com/golora/golora/kernels"
)

// Causal grouped-query attention for one sequence.
//
// Layouts (no transposes, so projections feed straight in):
//
//	q, out, dq, dout  [T, NH, D]    queries at positions Tk-T .. Tk-1
//	k, v, dk, dv      [Tk, NKV, D]  keys/values at positions 0 .. Tk-1
//	att               [NH, T, Tk]   softmax probabilities, 0 above the diagonal
//
// Query head h reads key/value head h / (NH/NKV) (HF repeat_kv). A KV cache
// that stores each layer as [capacity, NKV, D] and appends positions passes
// its first Tk rows, cache[:Tk*NKV*D], as k and v: a prefix of that layout
// is exactly [Tk, NKV, D], so decode needs neither copies nor strides.
//
// Two implementations compute the same thing: per-head GEMMs (kernels.Sgemm
// addressing a head inside [T, NH, D] through the row stride NH*D) in blocks
// of query rows so the causal upper triangle is mostly skipped, and a fused
// dot/axpy loop that wins when there are few query rows (decode).

// attnBlock is the query-row block of the GEMM path: the columns computed
// above the diagonal per block are at most attnBlock-1 per row.
const attnBlock = 64

// attnFusedMaxT is the largest T handled by the fused loop; larger T use the
// GEMMs (see BenchmarkAttention).
var attnFusedMaxT = 4

func checkAttention(op string, T, Tk, NH, NKV, D int) {
	if T < 0 || Tk < T || NH <= 0 || NKV <= 0 || D <= 0 || NH%NKV != 0 {
		panic("nn: " + op + ": bad shape T=" + strconv.Itoa(T) + " Tk=" + strconv.Itoa(Tk) +
			" NH=" + strconv.Itoa(NH) + " NKV=" + strconv.Itoa(NKV) + " D=" + strconv.Itoa(D) +
			" (need 0 <= T <= Tk and NH a multiple of NKV)")
	}
}

// AttnOptions are the variants of the attention scores some families use.
// The zero value of Window and SoftCap is plain causal attention.
type AttnOptions struct {
	Scale float32 // scores are scale·q·kᵀ (usually 1/sqrt(D))
	// Window > 0 limits each query to itself and the Window-1 keys before
	// it (sliding-window attention: key j is visible from query i when
	// i-Window < j <= i, transformers' sliding_window).
	Window int
	// SoftCap > 0 caps the scores to cap·tanh(s/cap) before the softmax
	// (Gemma 2's attn_logit_softcapping).
	SoftCap float32
}

// visible returns the keys [lo, n) query row i of T sees among Tk.
func (o *AttnOptions) visible(i, T, Tk int) (lo, n int) {
	n = Tk - T + i + 1
	if o.Window > 0 && n > o.Window {
		lo = n - o.Window
	}
	return lo, n
}

// AttentionForward computes out = softmax(scale·q·kᵀ + causal mask)·v for
// each query head and stores the probabilities in att, which the backward
// needs. Inference may pass att == nil: the probabilities then live in a
// small per-goroutine scratch (64 rows of Tk) instead of NH·T·Tk floats.
func AttentionForward(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	AttentionForwardOpt(out, att, q, k, v, T, Tk, NH, NKV, D, AttnOptions{Scale: scale})
}

// AttentionForwardOpt is AttentionForward with a sliding window and score
// soft-capping; masked keys get probability 0.
func AttentionForwardOpt(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, o AttnOptions) {
	checkAttention("AttentionForward", T, Tk, NH, NKV, D)
	checkLen("AttentionForward: q", q, T*NH*D)
	checkLen("AttentionForward: out", out, T*NH*D)
	checkLen("AttentionForward: k", k, Tk*NKV*D)
	checkLen("AttentionForward: v", v, Tk*NKV*D)
	if att != nil {
		checkLen("AttentionForward: att", att, NH*T*Tk)
	}
	if T <= attnFusedMaxT {
		attentionForwardFused(out, att, q, k, v, T, Tk, NH, NKV, D, &o)
	} else {
		attentionForwardGemm(out, att, q, k, v, T, Tk, NH, NKV, D, &o)
	}
}

// softmaxCausalRow turns the scores row[lo:n] into probabilities (capped
// first when softCap > 0) and zeroes the masked row[:lo] and row[n:].
func softmaxCausalRow(row []float32, lo, n int, softCap float32) {
	p := row[lo:n]
	if softCap > 0 {
		for j, s := range p {
			p[j] = softCap * float32(math.Tanh(float64(s/softCap)))
		}
	}
	s := kernels.ExpSub(p, p, kernels.Max(p))
	kernels.Scale(1/s, p)
	clear(row[:lo])
	clear(row[n:])
}

func attentionForwardFused(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
	group := NH / NKV
	kernels.For(NH, 1, func(h0, h1 int) {
		var scratch []float32
		if att == nil {
			scratch = make([]float32, Tk)
		}
		for h := h0; h < h1; h++ {
			g := h / group
			for i := 0; i < T; i++ {
				lo, n := o.visible(i, T, Tk)
				qi := q[(i*NH+h)*D : (i*NH+h+1)*D]
				row := scratch
				if att != nil {
					row = att[(h*T+i)*Tk : (h*T+i+1)*Tk]
				}
				kernels.DotRows(row[lo:n], o.Scale, qi, k[(lo*NKV+g)*D:], NKV*D)
				softmaxCausalRow(row, lo, n, o.SoftCap)
				oi := out[(i*NH+h)*D : (i*NH+h+1)*D]
				clear(oi)
				kernels.AxpyRows(oi, row[lo:n], v[(lo*NKV+g)*D:], NKV*D)
			}
		}
	})
}

func attentionForwardGemm(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
	group := NH / NKV
	ldq, ldk := NH*D, NKV*D
	kernels.For(NH, 1, func(h0, h1 int) {
		var scratch []float32
		if att == nil {
			scratch = make([]float32, min(attnBlock, T)*Tk)
		}
		for h := h0; h < h1; h++ {
			g := h / group
			for i0 := 0; i0 < T; i0 += attnBlock {
				i1 := min(i0+attnBlock, T)
				c0, _ := o.visible(i0, T, Tk) // first column any row of the block sees
				c := Tk - T + i1              // columns up to the last row's diagonal
				a := scratch                  // rows i0..i1-1 of this head's probabilities
				if att != nil {
					a = att[(h*T+i0)*Tk : (h*T+i1)*Tk]
				}
				// scores[i0:i1, c0:c] = scale · q_h[i0:i1] · k_g[c0:c]ᵀ
				kernels.Sgemm(false, true, i1-i0, c-c0, D, o.Scale,
					q[i0*ldq+h*D:], ldq, k[c0*ldk+g*D:], ldk, 0, a[c0:], Tk)
				for i := i0; i < i1; i++ {
					lo, n := o.visible(i, T, Tk)
					softmaxCausalRow(a[(i-i0)*Tk:(i-i0+1)*Tk], lo, n, o.SoftCap)
				}
				// out_h[i0:i1] = P[i0:i1, c0:c] · v_g[c0:c]
				kernels.Sgemm(false, false, i1-i0, D, c-c0, 1,
					a[c0:], Tk, v[c0*ldk+g*D:], ldk, 0, out[i0*ldq+h*D:], ldq)
			}
		}
	})
}

// AttentionBackward accumulates dq, dk and dv (any may be nil) from dout,
// given the probabilities att that AttentionForward stored.
func AttentionBackward(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	AttentionBackwardOpt(dq, dk, dv, dout, att, q, k, v, T, Tk, NH, NKV, D, AttnOptions{Scale: scale})
}

// AttentionBackwardOpt is AttentionBackward for AttentionForwardOpt with
// the same options. Masked keys have probability 0, so the window needs
// nothing more than the softmax's own backward; soft-capping multiplies the
// score gradient by 1 - tanh², recomputing the uncapped scores.
func AttentionBackwardOpt(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, o AttnOptions) {
	checkAttention("AttentionBackward", T, Tk, NH, NKV, D)
	checkLen("AttentionBackward: dout", dout, T*NH*D)
	checkLen("AttentionBackward: att", att, NH*T*Tk)
	checkLen("AttentionBackward: q", q, T*NH*D)
	checkLen("AttentionBackward: k", k, Tk*NKV*D)
	checkLen("AttentionBackward: v", v, Tk*NKV*D)
	if dq != nil {
		checkLen("AttentionBackward: dq", dq, T*NH*D)
	}
	if dk != nil {
		checkLen("AttentionBackward: dk", dk, Tk*NKV*D)
	}
	if dv != nil {
		checkLen("AttentionBackward: dv", dv, Tk*NKV*D)
	}
	if dq == nil && dk == nil && dv == nil {
		return
	}
	if T <= attnFusedMaxT {
		attentionBackwardFused(dq, dk, dv, dout, att, q, k, v, T, Tk, NH, NKV, D, &o)
	} else {
		attentionBackwardGemm(dq, dk, dv, dout, att, q, k, v, T, Tk, NH, NKV, D, &o)
	}
}

// dsoftmaxRow turns dP (row[:n], the gradient of the probabilities p[:n])
// into the gradient of the scores, in place: p ⊙ (dP - Σ p⊙dP).
func dsoftmaxRow(ds, p []float32) {
	s := kernels.Dot(p, ds)
	for j := range ds {
		ds[j] = p[j] * (ds[j] - s)
	}
}

// dsoftCap multiplies the gradient of the capped scores ds by the
// derivative of cap·tanh(s/cap), 1 - tanh(s/cap)², at the uncapped scores
// raw.
func dsoftCap(ds, raw []float32, softCap float32) {
	for j, s := range raw {
		t := float32(math.Tanh(float64(s / softCap)))
		ds[j] *= 1 - t*t
	}
}

// The backward runs one goroutine per key/value head: the query heads of a
// group all write that head's dk and dv rows, so splitting by group needs
// no locks.

func attentionBackwardFused(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
	group := NH / NKV
	scale := o.Scale
	kernels.For(NKV, 1, func(g0, g1 int) {
		ds := make([]float32, Tk)
		var raw []float32
		if o.SoftCap > 0 {
			raw = make([]float32, Tk)
		}
		for g := g0; g < g1; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < T; i++ {
					lo, n := o.visible(i, T, Tk)
					p := att[(h*T+i)*Tk+lo : (h*T+i)*Tk+n]
					do := dout[(i*NH+h)*D : (i*NH+h+1)*D]
					qi := q[(i*NH+h)*D : (i*NH+h+1)*D]
					d := ds[:n-lo]
					for j := range d {
						vj := v[((lo+j)*NKV+g)*D : ((lo+j)*NKV+g+1)*D]
						d[j] = kernels.Dot(do, vj)
						if dv != nil {
							kernels.Axpy(p[j], do, dv[((lo+j)*NKV+g)*D:((lo+j)*NKV+g+1)*D])
						}
					}
					dsoftmaxRow(d, p)
					if raw != nil {
						r := raw[:n-lo]
						kernels.DotRows(r, scale, qi, k[(lo*NKV+g)*D:], NKV*D)
						dsoftCap(d, r, o.SoftCap)
					}
					if dq != nil {
						dqi := dq[(i*NH+h)*D : (i*NH+h+1)*D]
						for j, dj := range d {
							kernels.Axpy(scale*dj, k[((lo+j)*NKV+g)*D:((lo+j)*NKV+g+1)*D], dqi)
						}
					}
					if dk != nil {
						for j, dj := range d {
							kernels.Axpy(scale*dj, qi, dk[((lo+j)*NKV+g)*D:((lo+j)*NKV+g+1)*D])
						}
					}
				}
			}
		}
	})
}

func attentionBackwardGemm(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
	group := NH / NKV
	ldq, ldk := NH*D, NKV*D
	scale := o.Scale
	kernels.For(NKV, 1, func(g0, g1 int) {
		dS := make([]float32, attnBlock*Tk)
		var raw []float32
		if o.SoftCap > 0 {
			raw = make([]float32, attnBlock*Tk)
		}
		for g := g0; g < g1; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				a := att[h*T*Tk : (h+1)*T*Tk]
				for i0 := 0; i0 < T; i0 += attnBlock {
					i1 := min(i0+attnBlock, T)
					c0, _ := o.visible(i0, T, Tk)
					m, c := i1-i0, Tk-T+i1
					w := c - c0 // columns c0..c-1 of the block
					P := a[i0*Tk+c0:]
					dO := dout[i0*ldq+h*D:]
					if dv != nil {
						// dv_g[c0:c] += P[i0:i1, c0:c]ᵀ · dout_h[i0:i1]
						kernels.Sgemm(true, false, w, D, m, 1, P, Tk, dO, ldq, 1, dv[c0*ldk+g*D:], ldk)
					}
					if dq == nil && dk == nil {
						continue
					}
					// dS = dout_h · v_gᵀ, then through the softmax (and cap)
					kernels.Sgemm(false, true, m, w, D, 1, dO, ldq, v[c0*ldk+g*D:], ldk, 0, dS, w)
					if raw != nil {
						kernels.Sgemm(false, true, m, w, D, scale, q[i0*ldq+h*D:], ldq, k[c0*ldk+g*D:], ldk, 0, raw, w)
					}
					for i := i0; i < i1; i++ {
						lo, n := o.visible(i, T, Tk)
						row := dS[(i-i0)*w : (i-i0+1)*w]
						pr := P[(i-i0)*Tk:]
						dsoftmaxRow(row[lo-c0:n-c0], pr[lo-c0:n-c0])
						if raw != nil {
							dsoftCap(row[lo-c0:n-c0], raw[(i-i0)*w+lo-c0:(i-i0)*w+n-c0], o.SoftCap)
						}
						clear(row[:lo-c0])
						clear(row[n-c0:])
					}
					if dq != nil {
						// dq_h[i0:i1] += scale · dS · k_g[c0:c]
						kernels.Sgemm(false, false, m, D, w, scale, dS, w, k[c0*ldk+g*D:], ldk, 1, dq[i0*ldq+h*D:], ldq)
					}
					if dk != nil {
						// dk_g[c0:c] += scale · dSᵀ · q_h[i0:i1]
						kernels.Sgemm(true, false, w, D, m, scale, dS, w, q[i0*ldq+h*D:], ldq, 1, dk[c0*ldk+g*D:], ldk)
					}
				}
			}
		}
	})
}
