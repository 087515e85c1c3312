package model

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// attnDims are the head sizes shared by all sequences of a call.
type attnDims struct {
	NH, NKV, D int
	opt        nn.AttnOptions // scale, sliding window, soft-cap
}

// attentionForward runs causal attention over a batch of sequences (the B
// rows of a training batch or the active rows of a cache step), each an
// nn.AttnSeq: T new queries at positions Tk-T..Tk-1 over keys 0..Tk-1,
// rows of q/out NH*D wide and of k/v NKV*D wide (a KV-cache row or a
// training batch row). Training keeps out and each query row's log-sum-exp
// (LSE, NH*T floats) for the backward, which recomputes the probabilities
// tile by tile from them (nn's flash-style attention): memory has no
// (NH, T, Tk) term.
func attentionForward(seqs []nn.AttnSeq, d attnDims) {
	nn.AttentionForwardBatch(seqs, d.NH, d.NKV, d.D, d.opt)
}

// attentionBackward accumulates DQ, DK, DV from DOut, given the forward's
// Out and LSE.
func attentionBackward(seqs []nn.AttnSeq, d attnDims) {
	nn.AttentionBackwardBatch(seqs, d.NH, d.NKV, d.D, d.opt)
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
