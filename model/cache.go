package model

import (
	"errors"
	"fmt"

	"github.com/golora/golora/nn"
)

// ErrCacheFull is returned by Step when a row would exceed the capacity.
var ErrCacheFull = errors.New("model: KV cache full")

// Cache holds keys and values for incremental decoding. Each of its B rows
// is an independent sequence with its own length, so a server can run one
// batch of unrelated requests (and reset one row when its request ends).
type Cache struct {
	B, Cap int
	lens   []int
	k, v   [][]float32 // per layer (B, Cap, KVD), RoPE already applied to k
	slots  *slots      // per-row memory instead of k, v (NewSlotCache)
}

// NewCache allocates a cache of B rows of up to capacity tokens each.
func (m *Transformer) NewCache(B, capacity int) *Cache {
	m.packForDecode()
	c := m.cfg
	KVD := c.NumKeyValueHeads * c.HeadDim
	ch := &Cache{B: B, Cap: capacity, lens: make([]int, B)}
	ch.k = make([][]float32, c.NumHiddenLayers)
	ch.v = make([][]float32, c.NumHiddenLayers)
	for l := range ch.k {
		ch.k[l] = make([]float32, B*capacity*KVD)
		ch.v[l] = make([]float32, B*capacity*KVD)
	}
	return ch
}

// Len is the number of tokens cached for row b.
func (c *Cache) Len(b int) int { return c.lens[b] }

// Reset empties row b (b < 0: every row).
func (c *Cache) Reset(b int) {
	if b < 0 {
		clear(c.lens)
		return
	}
	c.lens[b] = 0
}

// Truncate shortens row b to n tokens (n <= Len(b)), e.g. to drop rejected
// speculative tokens or reuse a shared prompt prefix.
func (c *Cache) Truncate(b, n int) {
	if n < c.lens[b] && n >= 0 {
		c.lens[b] = n
	}
}

// stepActs are the decode path's buffers, sized to the largest step so far.
type stepActs struct {
	la        layerActs
	x, out    []float32
	lnf, last []float32
	logits    []float32
	pos, ids  []int
	rowStart  []int
	seqs      []nn.AttnSeq
	spans     []span
	scratch   acts
	meanf     []float32
	rstdf     []float32
	activeIdx []int
	exact     rowExact // SetRowExact
}

// Step appends rows[b] (zero or more new tokens) to each row b of the cache
// and returns the logits of the last new token of every row that got tokens,
// (active rows, V), in row order. It is prefill (many tokens) and decode (one
// token) alike. Linears (and any nn.Delta on them) see the new tokens as
// rows in row order, each row's tokens contiguous in position order; the
// head sees one row per active row.
func (m *Transformer) Step(c *Cache, rows [][]int) ([]float32, error) {
	return m.step(c, rows, false)
}

// StepAll is Step returning the logits of every new token,
// (sum of len(rows[b]), V), in the same row order as the linears see.
func (m *Transformer) StepAll(c *Cache, rows [][]int) ([]float32, error) {
	return m.step(c, rows, true)
}

func (m *Transformer) step(c *Cache, rows [][]int, all bool) ([]float32, error) {
	cfg := m.cfg
	if len(rows) != c.B {
		return nil, fmt.Errorf("model: Step got %d rows for a cache of %d", len(rows), c.B)
	}
	C, V, QD, KVD, I := cfg.HiddenSize, cfg.VocabSize, cfg.NumAttentionHeads*cfg.HeadDim, cfg.NumKeyValueHeads*cfg.HeadDim, cfg.IntermediateSize
	s := &m.dec
	s.ids, s.pos, s.rowStart = s.ids[:0], s.pos[:0], s.rowStart[:0]
	s.activeIdx = s.activeIdx[:0]
	s.spans = s.spans[:0]
	for b, r := range rows {
		if rc := c.rowCap(b); c.lens[b]+len(r) > rc {
			return nil, fmt.Errorf("%w: row %d has %d tokens, adding %d exceeds capacity %d", ErrCacheFull, b, c.lens[b], len(r), rc)
		}
		if m.wpe != nil && c.lens[b]+len(r) > m.wpe.Shape[0] {
			return nil, fmt.Errorf("model: row %d would reach position %d beyond n_positions %d", b, c.lens[b]+len(r), m.wpe.Shape[0])
		}
		for _, id := range r {
			if id < 0 || id >= V {
				return nil, fmt.Errorf("model: token id %d in row %d outside vocabulary [0, %d)", id, b, V)
			}
		}
		s.rowStart = append(s.rowStart, len(s.ids))
		for t, id := range r {
			s.ids = append(s.ids, id)
			s.pos = append(s.pos, c.lens[b]+t)
		}
		if len(r) > 0 {
			s.activeIdx = append(s.activeIdx, len(s.ids)-1)
			s.spans = append(s.spans, span{start: s.rowStart[b], n: len(r), pos0: c.lens[b]})
		}
	}
	N := len(s.ids)
	if N == 0 {
		return s.logits[:0], nil
	}
	seqLen := 0 // the longest row after this step (position-dependent RoPE)
	for b, r := range rows {
		seqLen = max(seqLen, c.lens[b]+len(r))
	}
	la := &s.la
	grow(&la.ln1, N*C)
	grow(&la.ln2, N*C)
	m.sizeLayer(la, N)
	grow(&s.scratch.h, max(N*I, m.gateUpLen(N)))
	x := grow(&s.x, N*C)
	out := grow(&s.out, N*C)
	m.stepping = true
	defer func() { m.stepping = false }()
	m.embed(x, s.ids, s.pos)
	attend := func(l int, a *layerActs) {
		s.seqs = s.seqs[:0]
		for b, r := range rows {
			if len(r) == 0 {
				continue
			}
			T, L0, r0 := len(r), c.lens[b], s.rowStart[b]
			kc, vc := c.rowKV(l, b, KVD)
			for t := range T { // the new keys and values (rows a.ldkv apart) into the cache
				n := (r0 + t) * a.ldkv
				copy(kc[(L0+t)*KVD:(L0+t+1)*KVD], a.k[n:n+KVD])
				copy(vc[(L0+t)*KVD:(L0+t+1)*KVD], a.v[n:n+KVD])
			}
			s.seqs = append(s.seqs, nn.AttnSeq{
				Q: a.q[r0*a.ldq:], QStride: a.ldq, K: kc, V: vc, Out: a.ao[r0*QD : (r0+T)*QD],
				T: T, Tk: L0 + T,
			})
		}
		attentionForward(s.seqs, m.dims[l])
	}
	for l := range m.layers {
		m.blockForward(l, la, x, out, N, seqLen, s.spans, &s.scratch, attend)
		x, out = out, x
	}
	for b, r := range rows {
		c.lens[b] += len(r)
	}
	rowsOut := N
	if !all {
		rowsOut = len(s.activeIdx)
		last := grow(&s.last, rowsOut*C)
		for i, n := range s.activeIdx {
			copy(last[i*C:(i+1)*C], x[n*C:(n+1)*C])
		}
		x = last
	}
	lnf := grow(&s.lnf, rowsOut*C)
	m.normForward(&m.normF, lnf, grow(&s.meanf, rowsOut), grow(&s.rstdf, rowsOut), x, rowsOut)
	logits := grow(&s.logits, rowsOut*V)
	m.linear(m.head, lnf, logits, rowsOut)
	m.finishLogits(logits)
	return logits, nil
}
