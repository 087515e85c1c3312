package core

import (
	"github.com/golora/golora/kernels"
)

// seqAttn describes one sequence for causal attention: T new queries at
// positions Tk-T..Tk-1 attending to keys 0..Tk-1. Rows of q/out are NH*D
// wide, rows of k/v NKV*D wide (a KV-cache row or a training batch row).
// Probabilities are not kept: backward recomputes them from q and k (one
// extra Q·Kᵀ per head), so training memory has no (NH, T, T) term per layer.
type seqAttn struct {
	q, k, v, out []float32
	dq, dk, dv   []float32 // backward only
	dout         []float32
	T, Tk        int
}

// attnDims are the head sizes shared by all sequences of a call.
type attnDims struct {
	NH, NKV, D int
	scale      float32
}

// gemmMinT is the query count from which a head's products run as GEMMs over
// the whole (T, Tk) block (the masked triangle is computed and discarded);
// below it (decode) dot products are cheaper. A var so the benchmark can
// compare both paths.
var gemmMinT = 8

// attentionForward runs every (sequence, kv head) pair in parallel; the
// query heads of one kv group (h / (NH/NKV), HF's repeat_kv) stay together
// so backward can accumulate dk, dv without locks.
func attentionForward(seqs []seqAttn, d attnDims) {
	G := d.NKV
	parallelFor(len(seqs)*G, minTasks(seqs, d), func(lo, hi int) {
		var P []float32
		for task := lo; task < hi; task++ {
			s := &seqs[task/G]
			g := task % G
			P = grow(&P, s.T*s.Tk)
			for h := g * (d.NH / d.NKV); h < (g+1)*(d.NH/d.NKV); h++ {
				headProbs(s, d, h, P)
				headOut(s, d, h, P)
			}
		}
	})
}

// minTasks is the parallelFor chunk size that keeps goroutines for work
// worth one: a decode step of a small model runs inline.
func minTasks(seqs []seqAttn, d attnDims) int {
	work := 0
	for i := range seqs {
		work += seqs[i].T * seqs[i].Tk * d.NH * d.D
	}
	tasks := len(seqs) * d.NKV
	const minWork = 1 << 16 // multiply-adds per goroutine
	if work == 0 {
		return tasks
	}
	return max(1, tasks*minWork/work)
}

// headProbs writes head h's causal softmax(scale·q·kᵀ) rows (T, Tk) into P,
// zero above the diagonal.
func headProbs(s *seqAttn, d attnDims, h int, P []float32) {
	D, QD, KVD := d.D, d.NH*d.D, d.NKV*d.D
	g := h / (d.NH / d.NKV)
	T, Tk := s.T, s.Tk
	if T >= gemmMinT {
		kernels.Sgemm(false, true, T, Tk, D, d.scale, s.q[h*D:], QD, s.k[g*D:], KVD, 0, P, Tk)
	} else {
		for t := 0; t < T; t++ {
			qv := s.q[t*QD+h*D : t*QD+h*D+D]
			for j := 0; j <= Tk-T+t; j++ {
				P[t*Tk+j] = dot(qv, s.k[j*KVD+g*D:j*KVD+g*D+D]) * d.scale
			}
		}
	}
	for t := 0; t < T; t++ {
		p := Tk - T + t
		row := P[t*Tk : (t+1)*Tk]
		live := row[:p+1]
		sum := kernels.ExpSub(live, live, kernels.Max(live))
		kernels.Scale(1/sum, live)
		clear(row[p+1:])
	}
}

// headOut writes head h's output P·v into out.
func headOut(s *seqAttn, d attnDims, h int, P []float32) {
	D, QD, KVD := d.D, d.NH*d.D, d.NKV*d.D
	g := h / (d.NH / d.NKV)
	T, Tk := s.T, s.Tk
	if T >= gemmMinT {
		kernels.Sgemm(false, false, T, D, Tk, 1, P, Tk, s.v[g*D:], KVD, 0, s.out[h*D:], QD)
		return
	}
	for t := 0; t < T; t++ {
		o := s.out[t*QD+h*D : t*QD+h*D+D]
		clear(o)
		for j := 0; j <= Tk-T+t; j++ {
			axpy(P[t*Tk+j], s.v[j*KVD+g*D:j*KVD+g*D+D], o)
		}
	}
}

// attentionBackward accumulates dq, dk, dv from dout, per (sequence, kv
// group) in parallel: with P recomputed, dP = dO·Vᵀ, dV += Pᵀ·dO,
// dS = P⊙(dP − rowsum(P⊙dP))·scale, dQ += dS·K, dK += dSᵀ·Q.
func attentionBackward(seqs []seqAttn, d attnDims) {
	G := d.NKV
	rep := d.NH / d.NKV
	D, QD, KVD := d.D, d.NH*d.D, d.NKV*d.D
	parallelFor(len(seqs)*G, minTasks(seqs, d), func(lo, hi int) {
		var P, dS []float32
		for task := lo; task < hi; task++ {
			s := &seqs[task/G]
			g := task % G
			T, Tk := s.T, s.Tk
			P, dS = grow(&P, T*Tk), grow(&dS, T*Tk)
			for h := g * rep; h < (g+1)*rep; h++ {
				headProbs(s, d, h, P)
				kernels.Sgemm(false, true, T, Tk, D, 1, s.dout[h*D:], QD, s.v[g*D:], KVD, 0, dS, Tk)
				kernels.Sgemm(true, false, Tk, D, T, 1, P, Tk, s.dout[h*D:], QD, 1, s.dv[g*D:], KVD)
				for t := 0; t < T; t++ {
					p := Tk - T + t
					pr, dr := P[t*Tk:t*Tk+p+1], dS[t*Tk:(t+1)*Tk]
					sum := kernels.Dot(pr, dr[:p+1])
					for j, a := range pr {
						dr[j] = a * (dr[j] - sum) * d.scale
					}
					clear(dr[p+1:])
				}
				kernels.Sgemm(false, false, T, D, Tk, 1, dS, Tk, s.k[g*D:], KVD, 1, s.dq[h*D:], QD)
				kernels.Sgemm(true, false, Tk, D, T, 1, dS, Tk, s.q[h*D:], QD, 1, s.dk[g*D:], KVD)
			}
		}
	})
}

// smallVec is the length below which inline loops beat the kernels' call
// overhead (small heads such as stories260K's D = 8).
const smallVec = 32

// dot is Σ a·b over len(a).
func dot(a, b []float32) float32 {
	if len(a) >= smallVec {
		return kernels.Dot(a, b[:len(a)])
	}
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy: y += alpha*x.
func axpy(alpha float32, x, y []float32) {
	if len(x) >= smallVec {
		kernels.Axpy(alpha, x, y[:len(x)])
		return
	}
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
