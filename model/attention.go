package model

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// seqAttn describes one sequence for causal attention: T new queries at
// positions Tk-T..Tk-1 attending to keys 0..Tk-1. Rows of q/out are NH*D
// wide, rows of k/v NKV*D wide (a KV-cache row or a training batch row).
// Training keeps out and each query row's log-sum-exp (lse, NH*T floats)
// for the backward, which recomputes the probabilities tile by tile from
// them (nn's flash-style attention): memory has no (NH, T, Tk) term.
type seqAttn struct {
	q, k, v, out []float32
	lse          []float32 // (NH, T); nil for inference
	dq, dk, dv   []float32 // backward only
	dout         []float32
	T, Tk        int
}

// attnDims are the head sizes shared by all sequences of a call.
type attnDims struct {
	NH, NKV, D int
	opt        nn.AttnOptions // scale, sliding window, soft-cap
}

// attentionForward runs nn.AttentionForward on each sequence; nn splits the
// heads of one sequence over the threads.
func attentionForward(seqs []seqAttn, d attnDims) {
	for i := range seqs {
		s := &seqs[i]
		nn.AttentionForwardOpt(s.out, s.lse, s.q, s.k, s.v, s.T, s.Tk, d.NH, d.NKV, d.D, d.opt)
	}
}

// attentionBackward accumulates dq, dk, dv from dout, given the forward's
// out and lse.
func attentionBackward(seqs []seqAttn, d attnDims) {
	for i := range seqs {
		s := &seqs[i]
		nn.AttentionBackwardOpt(s.dq, s.dk, s.dv, s.dout, s.out, s.lse, s.q, s.k, s.v, s.T, s.Tk, d.NH, d.NKV, d.D, d.opt)
	}
}

// smallVec is the length below which inline loops beat the kernels' call
// overhead (small heads such as stories260K's D = 8).
const smallVec = 32

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
