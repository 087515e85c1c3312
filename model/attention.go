package model

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// seqAttn describes one sequence for causal attention: T new queries at
// positions Tk-T..Tk-1 attending to keys 0..Tk-1. Rows of q/out are NH*D
// wide, rows of k/v NKV*D wide (a KV-cache row or a training batch row).
// Probabilities are not kept between forward and backward: backward
// recomputes them one sequence at a time into a shared (NH, T, Tk) scratch,
// so training memory has no (NH, T, T) term per layer.
type seqAttn struct {
	q, k, v, out []float32
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
// heads of one sequence over the threads, and with att == nil keeps only a
// per-goroutine block of probabilities.
func attentionForward(seqs []seqAttn, d attnDims) {
	for i := range seqs {
		s := &seqs[i]
		nn.AttentionForwardOpt(s.out, nil, s.q, s.k, s.v, s.T, s.Tk, d.NH, d.NKV, d.D, d.opt)
	}
}

// attentionBackward accumulates dq, dk, dv from dout. The probabilities are
// recomputed by a forward pass into att (rewriting out with the values it
// already holds), which costs one P·V product per head more than
// recomputing the scores alone but keeps a single implementation of the
// attention math, nn's.
func attentionBackward(seqs []seqAttn, d attnDims, att *[]float32) {
	for i := range seqs {
		s := &seqs[i]
		P := grow(att, d.NH*s.T*s.Tk)
		nn.AttentionForwardOpt(s.out, P, s.q, s.k, s.v, s.T, s.Tk, d.NH, d.NKV, d.D, d.opt)
		nn.AttentionBackwardOpt(s.dq, s.dk, s.dv, s.dout, P, s.q, s.k, s.v, s.T, s.Tk, d.NH, d.NKV, d.D, d.opt)
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
