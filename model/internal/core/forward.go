package core

import (
	"fmt"

	"github.com/golora/golora/nn"
)

// layerActs are the activations one block keeps for its backward pass.
// ln1 and ln2 (the normalised inputs of the linears) alias one buffer shared
// by all layers in the training path: backward recomputes them from x / xm,
// which costs a norm and saves 2·N·C floats per layer.
type layerActs struct {
	ln1, mean1, rstd1 []float32 // (N, C), (N), (N)
	q                 []float32 // (N, QD) after RoPE
	k, v              []float32 // (N, KVD) after RoPE
	ao                []float32 // (N, QD) attention output before O
	xm                []float32 // (N, C) residual after attention
	ln2, mean2, rstd2 []float32 // (N, C), (N), (N)
	f, u              []float32 // (N, I) GELU input or SwiGLU gate; SwiGLU up
}

// acts holds every buffer of the training path, sized on first use and
// reused while B*T does not grow.
type acts struct {
	B, T, N int
	ids     []int
	pos     []int       // (N) absolute position of each row
	resid   [][]float32 // L+1 × (N, C): block inputs, then the last block's output
	blocks  []layerActs // L, or 1 when checkpointing
	ln      []float32   // (N, C) shared ln1/ln2 of every block
	lnf     []float32   // (N, C)
	meanf   []float32
	rstdf   []float32
	logits  []float32 // (N, V); after Loss, dlogits
	hasGrad bool      // logits holds dlogits from Loss

	// scratch
	qkv, h        []float32 // (N, 3QD) fused projections; (N, I) MLP hidden
	dres, dln, dy []float32 // (N, C)
	dq, dao       []float32 // (N, QD)
	dk, dv        []float32 // (N, KVD)
	dqkv          []float32 // (N, QD+2KVD)
	dh, df, du    []float32 // (N, I)
	recompute     []float32 // (N, C) checkpointed block output
	seqs          []seqAttn
	spans         []span    // B rows of T positions from 0
	att           []float32 // (NH, T, T) probabilities recomputed in backward
	checkpointed  bool
}

func grow(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return *b
}

func (m *Transformer) sizeActs(B, T int) *acts {
	a := &m.acts
	c := m.cfg
	N, C, I, V, L := B*T, c.HiddenSize, c.IntermediateSize, c.VocabSize, c.NumHiddenLayers
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	a.B, a.T, a.N = B, T, N
	if len(a.resid) != L+1 {
		a.resid = make([][]float32, L+1)
	}
	for i := range a.resid {
		grow(&a.resid[i], N*C)
	}
	nb := L
	if m.Checkpointing {
		nb = 1
	}
	if len(a.blocks) != nb {
		a.blocks = make([]layerActs, nb)
	}
	a.checkpointed = m.Checkpointing
	ln := grow(&a.ln, N*C)
	for i := range a.blocks {
		b := &a.blocks[i]
		b.ln1, b.ln2 = ln, ln
		m.sizeLayer(b, N)
	}
	grow(&a.lnf, N*C)
	grow(&a.meanf, N)
	grow(&a.rstdf, N)
	grow(&a.logits, N*V)
	if m.arch.FusedQKV {
		grow(&a.qkv, N*(QD+2*KVD))
	}
	grow(&a.h, N*I)
	if cap(a.pos) < N {
		a.pos = make([]int, N)
	}
	a.pos = a.pos[:N]
	for n := range a.pos {
		a.pos[n] = n % T
	}
	if cap(a.seqs) < B {
		a.seqs = make([]seqAttn, B)
	}
	a.seqs = a.seqs[:B]
	a.spans = a.spans[:0]
	for b := 0; b < B; b++ {
		a.spans = append(a.spans, span{start: b * T, n: T})
	}
	return a
}

// sizeLayer sizes one block's activations for N rows (ln1 and ln2 are
// the caller's: shared in training, separate in Step).
func (m *Transformer) sizeLayer(b *layerActs, N int) {
	c := m.cfg
	C, I := c.HiddenSize, c.IntermediateSize
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	for _, buf := range []struct {
		p *[]float32
		n int
	}{{&b.mean1, N}, {&b.rstd1, N}, {&b.q, N * QD}, {&b.k, N * KVD}, {&b.v, N * KVD}, {&b.ao, N * QD},
		{&b.xm, N * C}, {&b.mean2, N}, {&b.rstd2, N}, {&b.f, N * I}} {
		grow(buf.p, buf.n)
	}
	if !m.arch.GELU {
		grow(&b.u, N*I)
	}
}

func (m *Transformer) sizeGrads(a *acts) {
	c := m.cfg
	N, C, I := a.N, c.HiddenSize, c.IntermediateSize
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	grow(&a.dres, N*C)
	grow(&a.dln, N*C)
	grow(&a.dy, N*C)
	grow(&a.dq, N*QD)
	grow(&a.dao, N*QD)
	grow(&a.dk, N*KVD)
	grow(&a.dv, N*KVD)
	if m.arch.FusedQKV {
		grow(&a.dqkv, N*(QD+2*KVD))
	}
	grow(&a.dh, N*I)
	grow(&a.df, N*I)
	if !m.arch.GELU {
		grow(&a.du, N*I)
	}
	if m.Checkpointing {
		grow(&a.recompute, N*C)
	}
}

// embed writes x[n] = wte[ids[n]] (+ wpe[pos[n]]), with EmbedDelta
// applied to the token rows.
func (m *Transformer) embed(x []float32, ids, pos []int) {
	C := m.cfg.HiddenSize
	for n, id := range ids {
		m.Wte.CopyRow(x[n*C:(n+1)*C], id)
	}
	if m.EmbedDelta != nil {
		m.EmbedDelta.Forward(ids, x[:len(ids)*C])
	}
	for n := range ids {
		row := x[n*C : (n+1)*C]
		if m.Wpe != nil {
			p := pos[n]
			if p >= m.Wpe.Shape[0] {
				panic(fmt.Sprintf("model: position %d beyond n_positions %d", p, m.Wpe.Shape[0]))
			}
			axpy(1, m.Wpe.Data[p*C:(p+1)*C], row)
		}
	}
}

func (m *Transformer) normForward(nm *Norm, out, mean, rstd, x []float32, N int) {
	C := m.cfg.HiddenSize
	if m.arch.LayerNorm {
		nn.LayerNormForward(out, mean, rstd, x, nm.W.Data, nm.B.Data, N, C, m.cfg.NormEps())
	} else {
		nn.RMSNormForward(out, rstd, x, nm.W.Data, N, C, m.cfg.NormEps())
	}
}

// normBackward accumulates dx (nil: skip) and the norm's weight gradients.
func (m *Transformer) normBackward(nm *Norm, dx, dout, x, mean, rstd []float32, N int) {
	C := m.cfg.HiddenSize
	var dw, db []float32
	if nm.DW != nil {
		dw = nm.DW.Data
	}
	if nm.DB != nil {
		db = nm.DB.Data
	}
	if m.arch.LayerNorm {
		nn.LayerNormBackward(dx, dw, db, dout, x, nm.W.Data, mean, rstd, N, C)
	} else {
		nn.RMSNormBackward(dx, dw, dout, x, nm.W.Data, rstd, N, C)
	}
}

// blockForward runs layer ly on x (N, C) into out (N, C), keeping its
// activations in a. attend computes a.ao from a.q, a.k, a.v (the training
// path attends within the batch, the decode path against a KV cache).
func (m *Transformer) blockForward(ly *Layer, a *layerActs, x, out []float32, N int, spans []span, scratch *acts, attend func(a *layerActs)) {
	c := m.cfg
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	m.normForward(&ly.Norm1, a.ln1, a.mean1, a.rstd1, x, N)
	if ly.QKV != nil {
		W := QD + 2*KVD
		qkv := scratch.qkv[:N*W]
		m.linear(ly.QKV, a.ln1, qkv, N)
		for n := 0; n < N; n++ {
			r := qkv[n*W : (n+1)*W]
			copy(a.q[n*QD:(n+1)*QD], r[:QD])
			copy(a.k[n*KVD:(n+1)*KVD], r[QD:QD+KVD])
			copy(a.v[n*KVD:(n+1)*KVD], r[QD+KVD:])
		}
	} else {
		m.linear(ly.Q, a.ln1, a.q, N)
		m.linear(ly.K, a.ln1, a.k, N)
		m.linear(ly.V, a.ln1, a.v, N)
	}
	if m.rope != nil {
		ropeSpans(m.rope, a.q, a.k, m.dims.NH, m.dims.NKV, spans, false)
	}
	attend(a)
	m.linear(ly.O, a.ao, a.xm, N)
	if ly.AttnHook != nil {
		ly.AttnHook.Forward(a.xm, N)
	}
	axpy(1, x, a.xm)
	m.normForward(&ly.Norm2, a.ln2, a.mean2, a.rstd2, a.xm, N)
	h := scratch.h[:len(a.f)]
	if m.arch.GELU {
		m.linear(ly.Fc, a.ln2, a.f, N)
		geluForward(h, a.f, m.arch.GELUErf)
		m.linear(ly.Proj, h, out, N)
	} else {
		m.linear(ly.Gate, a.ln2, a.f, N)
		m.linear(ly.Up, a.ln2, a.u, N)
		nn.SwiGLUForward(h, a.f, a.u)
		m.linear(ly.Down, h, out, N)
	}
	if ly.MLPHook != nil {
		ly.MLPHook.Forward(out, N)
	}
	axpy(1, a.xm, out)
}

// trainAttend attends within each of the B rows of T tokens.
func (m *Transformer) trainAttend(s *acts) func(a *layerActs) {
	return func(a *layerActs) {
		m.setSeqs(s, a)
		attentionForward(s.seqs, m.dims)
	}
}

func (m *Transformer) setSeqs(s *acts, a *layerActs) {
	c := m.cfg
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	T := s.T
	for b := range s.seqs {
		s.seqs[b] = seqAttn{
			q: a.q[b*T*QD : (b+1)*T*QD], k: a.k[b*T*KVD : (b+1)*T*KVD], v: a.v[b*T*KVD : (b+1)*T*KVD],
			out: a.ao[b*T*QD : (b+1)*T*QD], T: T, Tk: T,
		}
	}
}

// Forward runs B sequences of T tokens (ids row-major, (B, T)) with causal
// attention and returns the logits (B*T, V), a buffer reused by the next
// call. Activations are kept for Backward. ids outside the vocabulary panic.
func (m *Transformer) Forward(ids []int, B, T int) []float32 {
	if len(ids) != B*T {
		panic(fmt.Sprintf("model: Forward got %d ids for B=%d T=%d", len(ids), B, T))
	}
	m.checkIDs(ids)
	s := m.sizeActs(B, T)
	s.ids = append(s.ids[:0], ids...)
	s.hasGrad = false
	N := s.N
	m.embed(s.resid[0], ids, s.pos)
	att := m.trainAttend(s)
	for l := range m.Layers {
		a := &s.blocks[0]
		if !m.Checkpointing {
			a = &s.blocks[l]
		}
		m.blockForward(&m.Layers[l], a, s.resid[l], s.resid[l+1], N, s.spans, s, att)
	}
	L := len(m.Layers)
	m.normForward(&m.NormF, s.lnf, s.meanf, s.rstdf, s.resid[L], N)
	m.Head.Forward(s.lnf, s.logits, N)
	return s.logits
}

// IgnoreIndex is the target value that Loss skips (HF's -100).
const IgnoreIndex = -100

// Loss runs Forward and returns the mean cross-entropy of the logits at each
// position against targets (B*T; IgnoreIndex skips a position). For HF's
// causal-LM loss, targets[b,t] = ids[b,t+1] and the last position ignored.
// It leaves dloss/dlogits in place of the logits for Backward.
func (m *Transformer) Loss(ids, targets []int, B, T int) float64 {
	m.Forward(ids, B, T)
	if len(targets) != B*T {
		panic(fmt.Sprintf("model: Loss got %d targets for B=%d T=%d", len(targets), B, T))
	}
	for i, t := range targets {
		if t != IgnoreIndex && (t < 0 || t >= m.cfg.VocabSize) {
			panic(fmt.Sprintf("model: target %d at index %d outside vocabulary [0, %d)", t, i, m.cfg.VocabSize))
		}
	}
	s := &m.acts
	loss, _ := nn.CrossEntropy(s.logits, s.logits, targets, s.N, m.cfg.VocabSize, IgnoreIndex)
	s.hasGrad = true
	return loss
}

// Backward accumulates the gradient of the last Loss into every trainable
// weight, every nn.Delta and every hook.
func (m *Transformer) Backward() {
	s := &m.acts
	if !s.hasGrad {
		panic("model: Backward without a preceding Loss")
	}
	m.BackwardLogits(s.logits)
}

// BackwardLogits backpropagates a caller's dloss/dlogits (B*T, V) through
// the last Forward (for losses other than Loss's cross-entropy).
func (m *Transformer) BackwardLogits(dlogits []float32) {
	s := &m.acts
	m.sizeGrads(s)
	N, L := s.N, len(m.Layers)
	clear(s.dln)
	m.Head.Backward(s.lnf, dlogits, s.dln, N)
	clear(s.dres)
	m.normBackward(&m.NormF, s.dres, s.dln, s.resid[L], s.meanf, s.rstdf, N)
	att := m.trainAttend(s)
	for l := L - 1; l >= 0; l-- {
		ly := &m.Layers[l]
		var a *layerActs
		if m.Checkpointing {
			a = &s.blocks[0]
			m.blockForward(ly, a, s.resid[l], s.recompute, N, s.spans, s, att)
		} else {
			a = &s.blocks[l]
		}
		m.blockBackward(ly, a, s.resid[l], s)
	}
	C := m.cfg.HiddenSize
	if m.EmbedDelta != nil {
		m.EmbedDelta.Backward(s.ids, s.dres[:N*C])
	}
	if m.DWte != nil {
		for n, id := range s.ids {
			axpy(1, s.dres[n*C:(n+1)*C], m.DWte.Data[id*C:(id+1)*C])
		}
	}
	if m.DWpe != nil {
		for n, p := range s.pos {
			axpy(1, s.dres[n*C:(n+1)*C], m.DWpe.Data[p*C:(p+1)*C])
		}
	}
}

// blockBackward turns s.dres from the gradient of the block's output into
// that of its input x, accumulating weight gradients on the way.
func (m *Transformer) blockBackward(ly *Layer, a *layerActs, x []float32, s *acts) {
	c := m.cfg
	N := s.N
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	dz := s.dy
	copy(dz, s.dres)
	if ly.MLPHook != nil {
		ly.MLPHook.Backward(dz, N)
	}
	m.normForward(&ly.Norm2, a.ln2, a.mean2, a.rstd2, a.xm, N) // recompute ln2
	h := s.h[:len(a.f)]
	dh, df := s.dh[:len(a.f)], s.df[:len(a.f)]
	clear(dh)
	clear(df)
	clear(s.dln)
	if m.arch.GELU {
		geluForward(h, a.f, m.arch.GELUErf)
		ly.Proj.Backward(h, dz, dh, N)
		geluBackward(df, a.f, dh, m.arch.GELUErf)
		ly.Fc.Backward(a.ln2, df, s.dln, N)
	} else {
		du := s.du[:len(a.f)]
		clear(du)
		nn.SwiGLUForward(h, a.f, a.u)
		ly.Down.Backward(h, dz, dh, N)
		nn.SwiGLUBackward(df, du, a.f, a.u, dh)
		ly.Gate.Backward(a.ln2, df, s.dln, N)
		ly.Up.Backward(a.ln2, du, s.dln, N)
	}
	m.normBackward(&ly.Norm2, s.dres, s.dln, a.xm, a.mean2, a.rstd2, N)

	dy := s.dy
	copy(dy, s.dres)
	if ly.AttnHook != nil {
		ly.AttnHook.Backward(dy, N)
	}
	clear(s.dao)
	ly.O.Backward(a.ao, dy, s.dao, N)
	clear(s.dq)
	clear(s.dk)
	clear(s.dv)
	m.setSeqs(s, a)
	T := s.T
	for b := range s.seqs {
		sq := &s.seqs[b]
		sq.dq, sq.dk, sq.dv = s.dq[b*T*QD:(b+1)*T*QD], s.dk[b*T*KVD:(b+1)*T*KVD], s.dv[b*T*KVD:(b+1)*T*KVD]
		sq.dout = s.dao[b*T*QD : (b+1)*T*QD]
	}
	attentionBackward(s.seqs, m.dims, &s.att)
	if m.rope != nil {
		ropeSpans(m.rope, s.dq, s.dk, m.dims.NH, m.dims.NKV, s.spans, true)
	}
	clear(s.dln)
	m.normForward(&ly.Norm1, a.ln1, a.mean1, a.rstd1, x, N) // recompute ln1
	if ly.QKV != nil {
		W := QD + 2*KVD
		for n := 0; n < N; n++ {
			r := s.dqkv[n*W : (n+1)*W]
			copy(r[:QD], s.dq[n*QD:(n+1)*QD])
			copy(r[QD:QD+KVD], s.dk[n*KVD:(n+1)*KVD])
			copy(r[QD+KVD:], s.dv[n*KVD:(n+1)*KVD])
		}
		ly.QKV.Backward(a.ln1, s.dqkv, s.dln, N)
	} else {
		ly.Q.Backward(a.ln1, s.dq, s.dln, N)
		ly.K.Backward(a.ln1, s.dk, s.dln, N)
		ly.V.Backward(a.ln1, s.dv, s.dln, N)
	}
	m.normBackward(&ly.Norm1, s.dres, s.dln, x, a.mean1, a.rstd1, N)
}

// HiddenStates returns HF's output_hidden_states of the last Forward: entry
// 0 is the embedding output, entry l the output of block l-1, and the last
// (entry L) the final norm's output; each (B*T, C). Views, not copies.
func (m *Transformer) HiddenStates() [][]float32 {
	s := &m.acts
	L := len(m.Layers)
	hs := make([][]float32, L+1)
	copy(hs, s.resid[:L])
	hs[L] = s.lnf
	return hs
}
