package nn

import (
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

// AttentionForward computes out = softmax(scale·q·kᵀ + causal mask)·v for
// each query head and stores the probabilities in att, which the backward
// needs. Inference may pass att == nil: the probabilities then live in a
// small per-goroutine scratch (64 rows of Tk) instead of NH·T·Tk floats.
func AttentionForward(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	checkAttention("AttentionForward", T, Tk, NH, NKV, D)
	checkLen("AttentionForward: q", q, T*NH*D)
	checkLen("AttentionForward: out", out, T*NH*D)
	checkLen("AttentionForward: k", k, Tk*NKV*D)
	checkLen("AttentionForward: v", v, Tk*NKV*D)
	if att != nil {
		checkLen("AttentionForward: att", att, NH*T*Tk)
	}
	if T <= attnFusedMaxT {
		attentionForwardFused(out, att, q, k, v, T, Tk, NH, NKV, D, scale)
	} else {
		attentionForwardGemm(out, att, q, k, v, T, Tk, NH, NKV, D, scale)
	}
}

// softmaxCausalRow turns the scores row[:n] into probabilities and zeroes
// the masked tail row[n:].
func softmaxCausalRow(row []float32, n int) {
	p := row[:n]
	s := kernels.ExpSub(p, p, kernels.Max(p))
	kernels.Scale(1/s, p)
	clear(row[n:])
}

func attentionForwardFused(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	group := NH / NKV
	kernels.For(NH, 1, func(h0, h1 int) {
		var scratch []float32
		if att == nil {
			scratch = make([]float32, Tk)
		}
		for h := h0; h < h1; h++ {
			g := h / group
			for i := 0; i < T; i++ {
				n := Tk - T + i + 1 // keys visible to this query
				qi := q[(i*NH+h)*D : (i*NH+h+1)*D]
				row := scratch
				if att != nil {
					row = att[(h*T+i)*Tk : (h*T+i+1)*Tk]
				}
				kernels.DotRows(row[:n], scale, qi, k[g*D:], NKV*D)
				softmaxCausalRow(row, n)
				o := out[(i*NH+h)*D : (i*NH+h+1)*D]
				clear(o)
				kernels.AxpyRows(o, row[:n], v[g*D:], NKV*D)
			}
		}
	})
}

func attentionForwardGemm(out, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
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
				c := Tk - T + i1 // columns any row of the block can see
				a := scratch     // rows i0..i1-1 of this head's probabilities
				if att != nil {
					a = att[(h*T+i0)*Tk : (h*T+i1)*Tk]
				}
				// scores[i0:i1, :c] = scale · q_h[i0:i1] · k_g[:c]ᵀ
				kernels.Sgemm(false, true, i1-i0, c, D, scale,
					q[i0*ldq+h*D:], ldq, k[g*D:], ldk, 0, a, Tk)
				for i := i0; i < i1; i++ {
					softmaxCausalRow(a[(i-i0)*Tk:(i-i0+1)*Tk], Tk-T+i+1)
				}
				// out_h[i0:i1] = P[i0:i1, :c] · v_g[:c]
				kernels.Sgemm(false, false, i1-i0, D, c, 1,
					a, Tk, v[g*D:], ldk, 0, out[i0*ldq+h*D:], ldq)
			}
		}
	})
}

// AttentionBackward accumulates dq, dk and dv (any may be nil) from dout,
// given the probabilities att that AttentionForward stored.
func AttentionBackward(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
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
		attentionBackwardFused(dq, dk, dv, dout, att, q, k, v, T, Tk, NH, NKV, D, scale)
	} else {
		attentionBackwardGemm(dq, dk, dv, dout, att, q, k, v, T, Tk, NH, NKV, D, scale)
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

// The backward runs one goroutine per key/value head: the query heads of a
// group all write that head's dk and dv rows, so splitting by group needs
// no locks.

func attentionBackwardFused(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	group := NH / NKV
	kernels.For(NKV, 1, func(g0, g1 int) {
		ds := make([]float32, Tk)
		for g := g0; g < g1; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				for i := 0; i < T; i++ {
					n := Tk - T + i + 1
					p := att[(h*T+i)*Tk : (h*T+i)*Tk+n]
					do := dout[(i*NH+h)*D : (i*NH+h+1)*D]
					d := ds[:n]
					for j := range d {
						vj := v[(j*NKV+g)*D : (j*NKV+g+1)*D]
						d[j] = kernels.Dot(do, vj)
						if dv != nil {
							kernels.Axpy(p[j], do, dv[(j*NKV+g)*D:(j*NKV+g+1)*D])
						}
					}
					dsoftmaxRow(d, p)
					if dq != nil {
						dqi := dq[(i*NH+h)*D : (i*NH+h+1)*D]
						for j, dj := range d {
							kernels.Axpy(scale*dj, k[(j*NKV+g)*D:(j*NKV+g+1)*D], dqi)
						}
					}
					if dk != nil {
						qi := q[(i*NH+h)*D : (i*NH+h+1)*D]
						for j, dj := range d {
							kernels.Axpy(scale*dj, qi, dk[(j*NKV+g)*D:(j*NKV+g+1)*D])
						}
					}
				}
			}
		}
	})
}

func attentionBackwardGemm(dq, dk, dv, dout, att, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	group := NH / NKV
	ldq, ldk := NH*D, NKV*D
	kernels.For(NKV, 1, func(g0, g1 int) {
		dS := make([]float32, attnBlock*Tk)
		for g := g0; g < g1; g++ {
			for h := g * group; h < (g+1)*group; h++ {
				a := att[h*T*Tk : (h+1)*T*Tk]
				for i0 := 0; i0 < T; i0 += attnBlock {
					i1 := min(i0+attnBlock, T)
					m, c := i1-i0, Tk-T+i1
					P := a[i0*Tk:]
					dO := dout[i0*ldq+h*D:]
					if dv != nil {
						// dv_g[:c] += P[i0:i1, :c]ᵀ · dout_h[i0:i1]
						kernels.Sgemm(true, false, c, D, m, 1, P, Tk, dO, ldq, 1, dv[g*D:], ldk)
					}
					if dq == nil && dk == nil {
						continue
					}
					// dS = dout_h · v_gᵀ, then through the softmax
					kernels.Sgemm(false, true, m, c, D, 1, dO, ldq, v[g*D:], ldk, 0, dS, c)
					for i := i0; i < i1; i++ {
						n := Tk - T + i + 1
						row := dS[(i-i0)*c : (i-i0+1)*c]
						dsoftmaxRow(row[:n], P[(i-i0)*Tk:(i-i0)*Tk+n])
						clear(row[n:])
					}
					if dq != nil {
						// dq_h[i0:i1] += scale · dS · k_g[:c]
						kernels.Sgemm(false, false, m, D, c, scale, dS, c, k[g*D:], ldk, 1, dq[i0*ldq+h*D:], ldq)
					}
					if dk != nil {
						// dk_g[:c] += scale · dSᵀ · q_h[i0:i1]
						kernels.Sgemm(true, false, c, D, m, scale, dS, c, q[i0*ldq+h*D:], ldq, 1, dk[g*D:], ldk)
					}
				}
			}
		}
	})
}
