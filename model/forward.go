package model

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
	q                 []float32 // (N, QD) after RoPE, rows ldq apart
	k, v              []float32 // (N, KVD) after RoPE, rows ldkv apart
	ldq, ldkv         int       // QD and KVD, or QD+2·KVD: q, k, v point into qkv
	qkv               []float32 // (N, QD+2·KVD) fused projection's output (FusedQKV)
	ao                []float32 // (N, QD) attention output before O
	lse               []float32 // (B, NH, T) attention log-sum-exps, for its backward
	xm                []float32 // (N, C) residual after attention
	ln2, mean2, rstd2 []float32 // (N, C), (N), (N)
	f, u              []float32 // (N, I) GELU input or gate; gated MLP's up

	qn, kn       []float32 // QKNorm: q, k before their norms (N, QD), (N, KVD)
	rstdq, rstdk []float32 // QKNorm: (N·NH), (N·NKV) per head or (N), (N)
	oa, om       []float32 // PostNorm: attention and MLP outputs before their norms (N, C)
	rstdA, rstdM []float32 // PostNorm: (N), (N)
	rope         *nn.RoPE  // the rotation used, for backward (nil: none)
}

// acts holds every buffer of the training path, sized on first use and
// reused while B*T does not grow.
type acts struct {
	B, T, N int
	ids     []int
	pos     []int       // (N) absolute position of each row
	resid   [][]float32 // L+1 × (N, C): block inputs, then the last block's output
	blocks  []layerActs // per block, or shared (see block)
	ln      []float32   // (N, C) shared ln1/ln2 of every block
	lnf     []float32   // (N, C)
	meanf   []float32
	rstdf   []float32
	logits  []float32 // (N, V); after Loss, dlogits
	hasGrad bool      // logits holds dlogits from Loss

	// scratch
	h             []float32 // (N, I) MLP hidden
	dres, dln, dy []float32 // (N, C)
	dq, dao       []float32 // (N, QD)
	dk, dv        []float32 // (N, KVD)
	dqkv          []float32 // (N, QD+2KVD): FusedQKV's dq, dk, dv, rows side by side
	dh, df, du    []float32 // (N, I)
	recompute     []float32 // (N, C) checkpointed block output
	dpost         []float32 // (N, C) gradient through a post-norm
	capped        []float32 // (N, V) soft-capped logits, for their backward
	dlog          []float32 // (N, V) scaled dlogits
	dkn           []float32 // (N, KVD) gradient through the k norm
	seqs          []nn.AttnSeq
	spans         []span // B rows of T positions from 0
	checkpointed  bool
	frozen        int // blocks below this keep no activations and get no backward
}

// block is where block l's activations live: its own slot, or the one
// shared slot when checkpointing (backward recomputes them) or when l is
// below the lowest block with anything to train (backward never reaches
// it).
func (s *acts) block(l int) *layerActs {
	switch {
	case s.checkpointed || l < s.frozen:
		return &s.blocks[0]
	case s.frozen > 0:
		return &s.blocks[l-s.frozen+1]
	}
	return &s.blocks[l]
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
	N, C, I, L := B*T, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers
	a.B, a.T, a.N = B, T, N
	if len(a.resid) != L+1 {
		a.resid = make([][]float32, L+1)
	}
	for i := range a.resid {
		grow(&a.resid[i], N*C)
	}
	// Below the lowest block with something to train (LoRA on the last
	// blocks only, mlx-lm's --num-layers) no gradient is needed: those
	// blocks share one activation slot, and backward stops above them.
	a.checkpointed, a.frozen = m.checkpointing, m.lowestTrainable()
	nb := L
	switch {
	case a.checkpointed:
		nb = 1
	case a.frozen > 0:
		nb = L - a.frozen + 1
	}
	if len(a.blocks) != nb {
		a.blocks = make([]layerActs, nb)
	}
	ln := grow(&a.ln, N*C)
	for i := range a.blocks {
		b := &a.blocks[i]
		b.ln1, b.ln2 = ln, ln
		m.sizeLayer(b, N)
	}
	grow(&a.lnf, N*C)
	grow(&a.meanf, N)
	grow(&a.rstdf, N)
	grow(&a.h, max(N*I, m.gateUpLen(N)))
	if cap(a.pos) < N {
		a.pos = make([]int, N)
	}
	a.pos = a.pos[:N]
	for n := range a.pos {
		a.pos[n] = n % T
	}
	if cap(a.seqs) < B {
		a.seqs = make([]nn.AttnSeq, B)
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
	NH, NKV := c.NumAttentionHeads, c.NumKeyValueHeads
	QD, KVD := NH*c.HeadDim, NKV*c.HeadDim
	for _, buf := range []struct {
		p *[]float32
		n int
	}{{&b.mean1, N}, {&b.rstd1, N}, {&b.ao, N * QD},
		{&b.lse, N * NH}, {&b.xm, N * C}, {&b.mean2, N}, {&b.rstd2, N}, {&b.f, N * I}} {
		grow(buf.p, buf.n)
	}
	// A fused projection's rows stay where it wrote them: attention and
	// RoPE read q, k and v (and write their gradients) with the row stride.
	if m.arch.FusedQKV {
		W := QD + 2*KVD
		qkv := grow(&b.qkv, N*W)
		b.q, b.k, b.v, b.ldq, b.ldkv = qkv, qkv[QD:], qkv[QD+KVD:], W, W
	} else {
		grow(&b.q, N*QD)
		grow(&b.k, N*KVD)
		grow(&b.v, N*KVD)
		b.ldq, b.ldkv = QD, KVD
	}
	if !m.arch.GELU {
		grow(&b.u, N*I)
	}
	switch m.arch.QKNorm {
	case qkNormHead:
		grow(&b.rstdq, N*NH)
		grow(&b.rstdk, N*NKV)
	case qkNormAll:
		grow(&b.rstdq, N)
		grow(&b.rstdk, N)
	}
	if m.arch.QKNorm != qkNormNone {
		grow(&b.qn, N*QD)
		grow(&b.kn, N*KVD)
	}
	if m.arch.PostNorm {
		grow(&b.oa, N*C)
		grow(&b.om, N*C)
		grow(&b.rstdA, N)
		grow(&b.rstdM, N)
	}
}

func (m *Transformer) sizeGrads(a *acts) {
	c := m.cfg
	N, C, I := a.N, c.HiddenSize, c.IntermediateSize
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	grow(&a.dres, N*C)
	grow(&a.dln, N*C)
	grow(&a.dy, N*C)
	grow(&a.dao, N*QD)
	if m.arch.FusedQKV {
		grow(&a.dqkv, N*(QD+2*KVD))
	} else {
		grow(&a.dq, N*QD)
		grow(&a.dk, N*KVD)
		grow(&a.dv, N*KVD)
	}
	grow(&a.dh, max(N*I, m.gateUpLen(N)))
	if !m.arch.GELU { // a GELU MLP's backward works in place in dh
		grow(&a.df, N*I)
		grow(&a.du, N*I)
	}
	if a.checkpointed {
		grow(&a.recompute, N*C)
	}
	if m.arch.PostNorm {
		grow(&a.dpost, N*C)
	}
}

// gateUpLen is the size of the fused gate|up output for N rows (0 unless
// arch.FusedGateUp); it shares the MLP hidden buffers.
func (m *Transformer) gateUpLen(N int) int {
	if !m.arch.FusedGateUp {
		return 0
	}
	return 2 * N * m.cfg.IntermediateSize
}

// embed writes x[n] = (wte[ids[n]] (+ wpe[pos[n]]))·EmbedScale, with embedDelta
// applied to the token rows.
func (m *Transformer) embed(x []float32, ids, pos []int) {
	C := m.cfg.HiddenSize
	for n, id := range ids {
		m.wte.CopyRow(x[n*C:(n+1)*C], id)
	}
	if m.embedDelta != nil {
		m.embedDelta.Forward(ids, x[:len(ids)*C])
	}
	for n := range ids {
		row := x[n*C : (n+1)*C]
		if m.wpe != nil {
			p := pos[n]
			if p >= m.wpe.Shape[0] {
				panic(fmt.Sprintf("model: position %d beyond n_positions %d", p, m.wpe.Shape[0]))
			}
			axpy(1, m.wpe.Data[p*C:(p+1)*C], row)
		}
		if m.arch.EmbedScale != 0 {
			scaleVec(m.arch.EmbedScale, row)
		}
	}
}

// normWeight is the weight a norm multiplies by: W, or 1+W (NormPlusOne).
func (m *Transformer) normWeight(nm *norm) []float32 {
	if !m.arch.NormPlusOne {
		return nm.W.Data
	}
	w := grow(&nm.plus, len(nm.W.Data))
	for i, v := range nm.W.Data {
		w[i] = 1 + v
	}
	return w
}

// normForward normalises rows of x as wide as the norm's weight (the
// hidden size, or a head for per-head q/k norms) into out.
func (m *Transformer) normForward(nm *norm, out, mean, rstd, x []float32, rows int) {
	m.addNormForward(nm, out, mean, rstd, x, nil, rows)
}

// addNormForward is normForward of res after res += add (add nil: none),
// in one pass (nn.AddLayerNormForward).
func (m *Transformer) addNormForward(nm *norm, out, mean, rstd, res, add []float32, rows int) {
	C := nm.W.Shape[0]
	if m.arch.LayerNorm {
		nn.AddLayerNormForward(out, mean, rstd, res, add, nm.W.Data, nm.B.Data, rows, C, m.cfg.NormEps())
	} else {
		nn.AddRMSNormForward(out, rstd, res, add, m.normWeight(nm), rows, C, m.cfg.NormEps())
	}
}

// normBackward accumulates dx (nil: skip) and the norm's weight gradients.
func (m *Transformer) normBackward(nm *norm, dx, dout, x, mean, rstd []float32, rows int) {
	C := nm.W.Shape[0]
	var dw, db []float32
	if nm.DW != nil {
		dw = nm.DW.Data
	}
	if nm.DB != nil {
		db = nm.DB.Data
	}
	if m.arch.LayerNorm {
		nn.LayerNormBackward(dx, dw, db, dout, x, nm.W.Data, mean, rstd, rows, C)
	} else {
		nn.RMSNormBackward(dx, dw, dout, x, m.normWeight(nm), rstd, rows, C)
	}
}

// qkRows is the number of rows the q and k norms see for N tokens.
func (m *Transformer) qkRows(N int) (int, int) {
	if m.arch.QKNorm == qkNormHead {
		return N * m.cfg.NumAttentionHeads, N * m.cfg.NumKeyValueHeads
	}
	return N, N
}

// blockForward runs layer l on x (N, C) into out (N, C), keeping its
// activations in a. attend computes a.ao from a.q, a.k, a.v (the training
// path attends within the batch, the decode path against a KV cache);
// seqLen is the call's longest sequence (position-dependent RoPE types).
func (m *Transformer) blockForward(l int, a *layerActs, x, out []float32, N, seqLen int, spans []span, scratch *acts, attend func(l int, a *layerActs)) {
	c := m.cfg
	ly := &m.layers[l]
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	in := x
	if !m.arch.NoPreNorm {
		m.normForward(&ly.Norm1, a.ln1, a.mean1, a.rstd1, x, N)
		in = a.ln1
	}
	q, k := a.q, a.k
	if m.arch.QKNorm != qkNormNone {
		q, k = a.qn, a.kn
	}
	if ly.QKV != nil {
		m.linear(ly.QKV, in, a.qkv[:N*(QD+2*KVD)], N) // a.q, a.k, a.v's rows
	} else {
		m.linear(ly.Q, in, q, N)
		m.linear(ly.K, in, k, N)
		m.linear(ly.V, in, a.v, N)
	}
	if m.arch.QKNorm != qkNormNone {
		rq, rk := m.qkRows(N)
		m.normForward(&ly.QNorm, a.q, nil, a.rstdq, a.qn, rq)
		m.normForward(&ly.KNorm, a.k, nil, a.rstdk, a.kn, rk)
	}
	a.rope = nil
	if rs := m.ropes[l]; rs != nil {
		a.rope = rs.at(seqLen)
		ropeSpans(a.rope, a.q, a.k, a.ldq, a.ldkv, c.NumAttentionHeads, c.NumKeyValueHeads, spans, false)
	}
	attend(l, a)
	if m.arch.PostNorm {
		m.linear(ly.O, a.ao, a.oa, N)
		m.normForward(&ly.PostAttn, a.xm, nil, a.rstdA, a.oa, N)
	} else {
		m.linear(ly.O, a.ao, a.xm, N)
	}
	if ly.AttnHook != nil {
		ly.AttnHook.Forward(a.xm, N)
	}
	if m.arch.ResidScale != 0 {
		scaleVec(m.arch.ResidScale, a.xm)
	}
	in = a.xm
	if m.arch.NoPreNorm {
		addVec(a.xm, x)
	} else {
		m.addNormForward(&ly.Norm2, a.ln2, a.mean2, a.rstd2, a.xm, x, N) // the residual add too
		in = a.ln2
	}
	mo := out
	if m.arch.PostNorm {
		mo = a.om
	}
	h := scratch.h[:len(a.f)]
	switch {
	case m.arch.GELU:
		m.fcGelu(ly.Fc, in, a.f, h, N)
		m.linear(ly.Proj, h, mo, N)
	default:
		m.gateUpGLU(ly, in, a, scratch.h, h, N)
		m.linear(ly.Down, h, mo, N)
	}
	if m.arch.PostNorm {
		m.normForward(&ly.PostMLP, out, nil, a.rstdM, a.om, N)
	}
	if ly.MLPHook != nil {
		ly.MLPHook.Forward(out, N)
	}
	if m.arch.ResidScale != 0 {
		scaleVec(m.arch.ResidScale, out)
	}
	addVec(out, a.xm)
}

// fcGelu computes the MLP's f = x·Wᵀ + b and h = gelu(f). Outside
// m.linear's special paths (decode, row-exact, quantized or F16 steps) a
// bias goes into the GELU's pass
// (nn.BiasGeluForward: the same values, one pass over f fewer).
func (m *Transformer) fcGelu(fc *nn.Linear, x, f, h []float32, N int) {
	if m.decodeRows(N) { // the GELU inside the product's parallel region
		I := fc.Out()
		m.linearThen(fc, x, f, N, func(lo, hi int) {
			for i := range N {
				geluForward(h[i*I+lo:i*I+hi], f[i*I+lo:i*I+hi], m.arch.GELUErf)
			}
		})
		return
	}
	if m.special(fc, N) || fc.B == nil || m.arch.GELUErf {
		m.linear(fc, x, f, N)
		geluForward(h, f, m.arch.GELUErf)
		return
	}
	fc.ForwardUnbiased(x, f, N)
	nn.BiasGeluForward(h, f, fc.B.Data, N)
}

// gateUpForward computes the gated MLP's gate a.f and up a.u, from one
// fused projection (split in halves, gate first) or two.
func (m *Transformer) gateUpForward(ly *layer, in []float32, a *layerActs, buf []float32, N int) {
	if ly.GateUp == nil {
		m.linear(ly.Gate, in, a.f, N)
		m.linear(ly.Up, in, a.u, N)
		return
	}
	I := m.cfg.IntermediateSize
	gu := buf[:2*N*I]
	m.linear(ly.GateUp, in, gu, N)
	for n := 0; n < N; n++ {
		copy(a.f[n*I:(n+1)*I], gu[2*n*I:(2*n+1)*I])
		copy(a.u[n*I:(n+1)*I], gu[(2*n+1)*I:(2*n+2)*I])
	}
}

// gateUpGLU is gateUpForward followed by glu into h; in a decode step with
// separate gate and up projections the activation runs inside the up
// product's parallel region.
func (m *Transformer) gateUpGLU(ly *layer, in []float32, a *layerActs, buf, h []float32, N int) {
	if ly.GateUp != nil || !m.decodeRows(N) {
		m.gateUpForward(ly, in, a, buf, N)
		m.glu(h, a.f, a.u)
		return
	}
	I := m.cfg.IntermediateSize
	m.linear(ly.Gate, in, a.f, N)
	m.linearThen(ly.Up, in, a.u, N, func(lo, hi int) {
		for i := range N {
			r := i*I + lo
			m.glu(h[r:i*I+hi], a.f[r:i*I+hi], a.u[r:i*I+hi])
		}
	})
}

// decodeRows reports whether a product of N rows is a decode step's
// matrix-vector one, whose element-wise passes can run in its region.
func (m *Transformer) decodeRows(N int) bool { return m.stepping && N <= halfMaxRows }

// glu is the gated MLP's activation: silu(gate)·up or gelu_tanh(gate)·up.
func (m *Transformer) glu(h, f, u []float32) {
	if m.arch.GeGLU {
		nn.GeGLUForward(h, f, u)
	} else {
		nn.SwiGLUForward(h, f, u)
	}
}

// trainAttend attends within each of the B rows of T tokens.
func (m *Transformer) trainAttend(s *acts) func(l int, a *layerActs) {
	return func(l int, a *layerActs) {
		m.setSeqs(s, a)
		attentionForward(s.seqs, m.dims[l])
	}
}

func (m *Transformer) setSeqs(s *acts, a *layerActs) {
	c := m.cfg
	NH, QD := c.NumAttentionHeads, c.NumAttentionHeads*c.HeadDim
	T := s.T
	for b := range s.seqs {
		s.seqs[b] = nn.AttnSeq{
			Q: a.q[b*T*a.ldq:], K: a.k[b*T*a.ldkv:], V: a.v[b*T*a.ldkv:], QStride: a.ldq, KVStride: a.ldkv,
			Out: a.ao[b*T*QD : (b+1)*T*QD], LSE: a.lse[b*T*NH : (b+1)*T*NH], T: T, Tk: T,
		}
	}
}

// Forward runs B sequences of T tokens (ids row-major, (B, T)) with causal
// attention and returns the logits (B*T, V), a buffer reused by the next
// call. Activations are kept for Backward. ids outside the vocabulary panic.
func (m *Transformer) Forward(ids []int, B, T int) []float32 {
	s := m.forwardBody(ids, B, T)
	grow(&s.logits, s.N*m.cfg.VocabSize)
	m.head.Forward(s.lnf, s.logits, s.N)
	m.finishLogits(s.logits)
	if m.arch.LogitSoftCap != 0 {
		copy(grow(&s.capped, len(s.logits)), s.logits)
	}
	return s.logits
}

// forwardBody is Forward up to the final norm, whose output it leaves in
// s.lnf.
func (m *Transformer) forwardBody(ids []int, B, T int) *acts {
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
	for l := range m.layers {
		m.blockForward(l, s.block(l), s.resid[l], s.resid[l+1], N, T, s.spans, s, att)
	}
	L := len(m.layers)
	m.normForward(&m.normF, s.lnf, s.meanf, s.rstdf, s.resid[L], N)
	return s
}

// headChunk bounds the logits LossChunked holds at once, in floats (128
// MiB): 512 rows of GPT-2's 50k vocabulary, 1024 of Llama's 32k. Each chunk
// streams (and packs) the whole head weight twice, forward and backward;
// 512-row chunks spent 7-8% less CPU time in the head's products than
// 256-row ones (51 MB more peak RSS for GPT-2 at 4 × 256 tokens).
var headChunk = 1 << 25

// LossChunked is Loss without the (B*T, V) logits: it runs the forward to
// the final norm, then the head and the cross-entropy a chunk of rows at a
// time, and returns the mean loss over the counted targets and their count.
// With backward it also backpropagates weight × that mean through each
// chunk's head at once and then through the whole model, as Loss followed
// by Backward would (a training step without the largest buffer of the
// step: 200 MB for GPT-2 at 4×256 tokens).
func (m *Transformer) LossChunked(ids, targets []int, B, T int, weight float32, backward bool) (float64, int) {
	m.checkTargets(targets, B, T)
	s := m.forwardBody(ids, B, T)
	N, V, C := s.N, m.cfg.VocabSize, m.cfg.HiddenSize
	count := 0
	for _, t := range targets {
		if t != IgnoreIndex {
			count++
		}
	}
	if count == 0 {
		return 0, 0
	}
	if backward {
		m.sizeGrads(s)
		clear(s.dln)
	}
	// Equal chunks: 1024 GPT-2 rows as 4 × 256, not 3 × 333 and a 25-row
	// remainder that ran the head's products at a third of the rate.
	chunks := (N + max(1, headChunk/V) - 1) / max(1, headChunk/V)
	rows := (N + chunks - 1) / chunks
	var sum float64
	for r0 := 0; r0 < N; r0 += rows {
		n := min(rows, N-r0)
		x, z := s.lnf[r0*C:(r0+n)*C], grow(&s.logits, rows*V)[:n*V]
		m.head.Forward(x, z, n)
		m.finishLogits(z)
		if !backward {
			l, c := nn.CrossEntropy(nil, z, targets[r0:r0+n], n, V, IgnoreIndex)
			sum += l * float64(c)
			continue
		}
		if m.arch.LogitSoftCap != 0 {
			copy(grow(&s.capped, len(z)), z)
		}
		// the chunk's gradient: weight × its share of the batch's mean, scaled
		// in the loss's own pass (a serial pass over z after it cost ~5 ms a
		// GPT-2 chunk)
		l, c := nn.CrossEntropyScaled(z, z, targets[r0:r0+n], n, V, IgnoreIndex, weight/float32(count))
		if c == 0 {
			continue // no gradient from these rows
		}
		sum += l * float64(c)
		m.head.Backward(x, m.unfinishLogits(z), s.dln[r0*C:(r0+n)*C], n)
	}
	if backward {
		m.backwardBody(s)
	}
	return sum / float64(count), count
}

// finishLogits applies the head's scale and soft-cap (Granite, Gemma 2).
func (m *Transformer) finishLogits(z []float32) {
	if m.arch.LogitScale != 0 {
		scaleVec(m.arch.LogitScale, z)
	}
	if cp := m.arch.LogitSoftCap; cp != 0 {
		softCap(z, cp)
	}
}

// unfinishLogits turns dloss/d(final logits) into dloss/d(head output)
// in a scratch buffer.
func (m *Transformer) unfinishLogits(dz []float32) []float32 {
	if m.arch.LogitScale == 0 && m.arch.LogitSoftCap == 0 {
		return dz
	}
	s := &m.acts
	d := grow(&s.dlog, len(dz))
	copy(d, dz)
	if cp := m.arch.LogitSoftCap; cp != 0 {
		// d/dz cap·tanh(z/cap) = 1 - (capped/cap)²
		for i, y := range s.capped[:len(d)] {
			t := y / cp
			d[i] *= 1 - t*t
		}
	}
	if m.arch.LogitScale != 0 {
		scaleVec(m.arch.LogitScale, d)
	}
	return d
}

// IgnoreIndex is the target value that Loss skips (HF's -100).
const IgnoreIndex = nn.IgnoreIndex

// Loss runs Forward and returns the mean cross-entropy of the logits at each
// position against targets (B*T; IgnoreIndex skips a position). For HF's
// causal-LM loss, targets[b,t] = ids[b,t+1] and the last position ignored.
// It leaves dloss/dlogits in place of the logits for Backward.
func (m *Transformer) Loss(ids, targets []int, B, T int) float64 {
	m.Forward(ids, B, T)
	m.checkTargets(targets, B, T)
	s := &m.acts
	loss, _ := nn.CrossEntropy(s.logits, s.logits, targets, s.N, m.cfg.VocabSize, IgnoreIndex)
	s.hasGrad = true
	return loss
}

// checkTargets panics on targets that are not B*T vocabulary ids or
// IgnoreIndex.
func (m *Transformer) checkTargets(targets []int, B, T int) {
	if len(targets) != B*T {
		panic(fmt.Sprintf("model: Loss got %d targets for B=%d T=%d", len(targets), B, T))
	}
	for i, t := range targets {
		if t != IgnoreIndex && (t < 0 || t >= m.cfg.VocabSize) {
			panic(fmt.Sprintf("model: target %d at index %d outside vocabulary [0, %d)", t, i, m.cfg.VocabSize))
		}
	}
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
	clear(s.dln)
	m.head.Backward(s.lnf, m.unfinishLogits(dlogits), s.dln, s.N)
	m.backwardBody(s)
}

// backwardBody backpropagates s.dln, the gradient of the final norm's
// output, through the norm, the blocks and the embeddings.
func (m *Transformer) backwardBody(s *acts) {
	N, L := s.N, len(m.layers)
	clear(s.dres)
	m.normBackward(&m.normF, s.dres, s.dln, s.resid[L], s.meanf, s.rstdf, N)
	att := m.trainAttend(s)
	stop := s.frozen // as Forward decided: the blocks below kept nothing
	for l := L - 1; l >= stop; l-- {
		a := s.block(l)
		if s.checkpointed {
			m.blockForward(l, a, s.resid[l], s.recompute, N, s.T, s.spans, s, att)
		}
		m.blockBackward(l, a, s.resid[l], s)
	}
	if stop > 0 {
		return
	}
	C := m.cfg.HiddenSize
	if m.arch.EmbedScale != 0 {
		// x = scale·(lookup + delta) (+ position): the lookup's gradient is
		// the scaled one
		scaleVec(m.arch.EmbedScale, s.dres[:N*C])
	}
	if m.embedDelta != nil {
		m.embedDelta.Backward(s.ids, s.dres[:N*C])
	}
	if m.dwte != nil {
		for n, id := range s.ids {
			axpy(1, s.dres[n*C:(n+1)*C], m.dwte.Data[id*C:(id+1)*C])
		}
	}
	if m.dwpe != nil {
		for n, p := range s.pos {
			axpy(1, s.dres[n*C:(n+1)*C], m.dwpe.Data[p*C:(p+1)*C])
		}
	}
}

// lowestTrainable is the index of the lowest block whose backward has
// something to accumulate: 0 when the embeddings train, len(m.layers) when
// nothing below the final norm does.
func (m *Transformer) lowestTrainable() int {
	if m.fullBackward || m.embedDelta != nil || m.dwte != nil || m.dwpe != nil {
		return 0
	}
	for l := range m.layers {
		if m.layers[l].trainable() {
			return l
		}
	}
	return len(m.layers)
}

// trainable reports whether the block has a weight gradient, a delta or a
// hook to train.
func (ly *layer) trainable() bool {
	if ly.AttnHook != nil || ly.MLPHook != nil {
		return true
	}
	for _, n := range []*norm{&ly.Norm1, &ly.Norm2, &ly.PostAttn, &ly.PostMLP, &ly.QNorm, &ly.KNorm} {
		if n.DW != nil || n.DB != nil {
			return true
		}
	}
	for _, l := range []*nn.Linear{ly.QKV, ly.Q, ly.K, ly.V, ly.O, ly.Fc, ly.Proj, ly.Gate, ly.Up, ly.Down, ly.GateUp} {
		if l != nil && (l.DW != nil || l.DB != nil || l.Delta != nil) {
			return true
		}
	}
	return false
}

// blockBackward turns s.dres from the gradient of the block's output into
// that of its input x, accumulating weight gradients on the way.
func (m *Transformer) blockBackward(l int, a *layerActs, x []float32, s *acts) {
	c := m.cfg
	ly := &m.layers[l]
	N := s.N
	QD, KVD := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	// The MLP's output gradient is s.dres itself unless something rescales
	// it in place: nothing reads it after the norm's backward adds to
	// s.dres (and the same for the attention's dy below).
	dz := s.dres
	if m.arch.ResidScale != 0 || ly.MLPHook != nil {
		dz = s.dy
		copyVec(dz, s.dres)
	}
	if m.arch.ResidScale != 0 {
		scaleVec(m.arch.ResidScale, dz)
	}
	if ly.MLPHook != nil {
		ly.MLPHook.Backward(dz, N)
	}
	if m.arch.PostNorm {
		clear(s.dpost)
		m.normBackward(&ly.PostMLP, s.dpost, dz, a.om, nil, a.rstdM, N)
		dz = s.dpost
	}
	// The inputs of the MLP's linears (ln2, the activation h) are
	// recomputed only for linears whose backward reads them: with LoRA on
	// attention only, neither is (a GELU and a norm pass saved per block).
	in := a.xm
	if !m.arch.NoPreNorm {
		if needsInput(ly.Fc, ly.Gate, ly.Up, ly.GateUp) {
			m.normForward(&ly.Norm2, a.ln2, a.mean2, a.rstd2, a.xm, N) // recompute ln2
		}
		in = a.ln2
	}
	h := s.h[:len(a.f)]
	dh, df, du := s.dh[:len(a.f)], s.df[:0], s.du[:0]
	if !m.arch.GELU {
		df, du = s.df[:len(a.f)], s.du[:len(a.f)]
	}
	// The first write of each gradient buffer sets it (BackwardSet, the
	// activations' Set backwards): clearing them first was 30 MB of writes
	// per GPT-2 block.
	if m.arch.GELU {
		if ly.Proj.NeedsInput() {
			geluForward(h, a.f, m.arch.GELUErf)
		}
		ly.Proj.BackwardSet(h, dz, dh, N)
		// in place: df = gelu'(f)·dh over dh, one fewer 4·N·I-byte
		// stream than a separate df
		geluBackward(dh, a.f, dh, m.arch.GELUErf)
		ly.Fc.BackwardSet(in, dh, s.dln, N)
	} else {
		if ly.Down.NeedsInput() {
			m.glu(h, a.f, a.u)
		}
		ly.Down.BackwardSet(h, dz, dh, N)
		if m.arch.GeGLU {
			nn.GeGLUBackwardSet(df, du, a.f, a.u, dh)
		} else {
			nn.SwiGLUBackwardSet(df, du, a.f, a.u, dh)
		}
		if ly.GateUp != nil {
			I := c.IntermediateSize
			dgu := s.dh[:2*N*I] // dh is spent
			for n := 0; n < N; n++ {
				copy(dgu[2*n*I:(2*n+1)*I], df[n*I:(n+1)*I])
				copy(dgu[(2*n+1)*I:(2*n+2)*I], du[n*I:(n+1)*I])
			}
			ly.GateUp.BackwardSet(in, dgu, s.dln, N)
		} else {
			ly.Gate.BackwardSet(in, df, s.dln, N)
			ly.Up.Backward(in, du, s.dln, N)
		}
	}
	if m.arch.NoPreNorm {
		addVec(s.dres, s.dln)
	} else {
		m.normBackward(&ly.Norm2, s.dres, s.dln, a.xm, a.mean2, a.rstd2, N)
	}

	dy := s.dres
	if m.arch.ResidScale != 0 || ly.AttnHook != nil {
		dy = s.dy
		copyVec(dy, s.dres)
	}
	if m.arch.ResidScale != 0 {
		scaleVec(m.arch.ResidScale, dy)
	}
	if ly.AttnHook != nil {
		ly.AttnHook.Backward(dy, N)
	}
	if m.arch.PostNorm {
		clear(s.dpost)
		m.normBackward(&ly.PostAttn, s.dpost, dy, a.oa, nil, a.rstdA, N)
		dy = s.dpost
	}
	ly.O.BackwardSet(a.ao, dy, s.dao, N)
	// Attention sets the gradients of q, k and v (FusedQKV: into dqkv's
	// rows, the fused projection's output gradient), with a's strides.
	m.setSeqs(s, a)
	dq, dk, dv := s.dq, s.dk, s.dv
	if ly.QKV != nil {
		dq, dk, dv = s.dqkv, s.dqkv[QD:], s.dqkv[QD+KVD:]
	}
	T := s.T
	for b := range s.seqs {
		sq := &s.seqs[b]
		sq.DQ, sq.DK, sq.DV = dq[b*T*a.ldq:], dk[b*T*a.ldkv:], dv[b*T*a.ldkv:]
		sq.DOut = s.dao[b*T*QD : (b+1)*T*QD]
	}
	attentionBackward(s.seqs, m.dims[l])
	if a.rope != nil {
		ropeSpans(a.rope, dq, dk, a.ldq, a.ldkv, c.NumAttentionHeads, c.NumKeyValueHeads, s.spans, true)
	}
	if m.arch.QKNorm != qkNormNone {
		// through the q/k norms, into the spare dqkv-sized scratch
		rq, rk := m.qkRows(N)
		dqn, dkn := s.dao, grow(&s.dkn, N*KVD) // dao is spent
		clear(dqn)
		clear(dkn)
		m.normBackward(&ly.QNorm, dqn, dq, a.qn, nil, a.rstdq, rq)
		m.normBackward(&ly.KNorm, dkn, dk, a.kn, nil, a.rstdk, rk)
		dq, dk = dqn, dkn
	}
	in = x
	if !m.arch.NoPreNorm {
		if needsInput(ly.QKV, ly.Q, ly.K, ly.V) {
			m.normForward(&ly.Norm1, a.ln1, a.mean1, a.rstd1, x, N) // recompute ln1
		}
		in = a.ln1
	}
	if ly.QKV != nil {
		ly.QKV.BackwardSet(in, s.dqkv[:N*(QD+2*KVD)], s.dln, N)
	} else {
		ly.Q.BackwardSet(in, dq, s.dln, N)
		ly.K.Backward(in, dk, s.dln, N)
		ly.V.Backward(in, dv, s.dln, N)
	}
	if m.arch.NoPreNorm {
		addVec(s.dres, s.dln)
	} else {
		m.normBackward(&ly.Norm1, s.dres, s.dln, x, a.mean1, a.rstd1, N)
	}
}

// needsInput reports whether the backward of any of the linears (nil ones
// skipped) reads its input.
func needsInput(ls ...*nn.Linear) bool {
	for _, l := range ls {
		if l != nil && l.NeedsInput() {
			return true
		}
	}
	return false
}

// HiddenStates returns HF's output_hidden_states of the last Forward: entry
// 0 is the embedding output, entry l the output of block l-1, and the last
// (entry L) the final norm's output; each (B*T, C). Views, not copies.
func (m *Transformer) HiddenStates() [][]float32 {
	s := &m.acts
	L := len(m.layers)
	hs := make([][]float32, L+1)
	copy(hs, s.resid[:L])
	hs[L] = s.lnf
	return hs
}
