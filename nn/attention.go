package nn

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/golora/golora/kernels"
)

// Causal grouped-query attention, flash-attention style, for one sequence
// or a batch (AttnSeq): no [T, Tk] matrix of probabilities exists at any
// time. The forward keeps
// the log-sum-exp of each query row's scores; the backward recomputes the
// probabilities tile by tile from it.
//
// Layouts (no transposes, so projections feed straight in):
//
//	q, out, dq, dout  [T, NH, D]    queries at positions Tk-T .. Tk-1
//	k, v, dk, dv      [Tk, NKV, D]  keys/values at positions 0 .. Tk-1
//	lse               [NH, T]       log Σ_j exp(score_ij) over visible keys
//
// Query head h reads key/value head h / (NH/NKV) (HF repeat_kv). A KV cache
// that stores each layer as [capacity, NKV, D] and appends positions passes
// its first Tk rows, cache[:Tk*NKV*D], as k and v: a prefix of that layout
// is exactly [Tk, NKV, D], so decode needs neither copies nor strides.
//
// Two forward implementations compute the same thing: tiles of attnBlock
// query rows × attnKeyTile keys through per-head products
// (kernels.AttnGemm, addressing a head inside [T, NH, D] through the row
// stride NH*D, and the keys through a scaled transposed copy kᵀ·scale
// [NKV, D, Tk] made once per call) with an online softmax across key
// tiles, skipping the tiles above the causal diagonal and, inside the
// diagonal tiles, the masked products; and a fused dot/axpy loop that wins
// when there are few query rows (decode). The backward always tiles.

// attnBlock is the number of query rows of a tile: the columns computed
// above the diagonal per tile are at most attnBlock-1 per row.
const attnBlock = 64

// attnKeyTile is the number of keys of a tile, so a goroutine's scratch is
// a few attnBlock×attnKeyTile tiles (64 KiB each, L2) whatever Tk is. A
// variable so that tests reach several key tiles on small shapes.
var attnKeyTile = 256

// attnGroupedJobs is the number of key/value heads per thread from which a
// batch of tiled sequences runs forwardGrouped (0 in tests: always).
var attnGroupedJobs = 2

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

// visibleIn returns the keys query row i sees within the tile [j0, j1),
// relative to j0; lo >= n when it sees none there.
func (o *AttnOptions) visibleIn(i, T, Tk, j0, j1 int) (lo, n int) {
	lo, n = o.visible(i, T, Tk)
	return max(lo, j0) - j0, min(n, j1) - j0
}

// capScores applies the soft-cap to the scores s in place and, when th is
// not nil, stores the derivative of cap·tanh(x/cap), 1 - tanh², in th.
func capScores(s, th []float32, softCap float32) {
	for j, x := range s {
		t := float32(math.Tanh(float64(x / softCap)))
		s[j] = softCap * t
		if th != nil {
			th[j] = 1 - t*t
		}
	}
}

// scoreTile writes the tile s (i1-i0 rows of w = j1-j0) of head h's
// scores against keys j0..j1 of kv, soft-capped (th, when not nil, gets 1 - tanh²), calls visit(r, p)
// with the visible scores p of each row i0+r that sees a key of the tile
// (p may be written up to its capacity, the end of the row), and zeroes
// the rest of s. It returns the tile's causal diagonal for
// kernels.Cut: row r sees keys j0+j for j < r+off.
func scoreTile(s, th, q []float32, ldq int, kv *kvHead, h, i0, i1, j0, j1, T, Tk, D int, o *AttnOptions, visit func(r int, p []float32)) (off int) {
	w := j1 - j0
	off = Tk - T + i0 - j0 + 1
	kernels.AttnGemm(i1-i0, w, D, q[i0*ldq+h*D:], ldq, 1, kv.kt[j0:], kv.ld, s, w, false, kernels.Cut{Mode: kernels.CutCols, D: off})
	for i := i0; i < i1; i++ {
		r := i - i0
		row := s[r*w : (r+1)*w : (r+1)*w]
		lo, n := o.visibleIn(i, T, Tk, j0, j1)
		if lo >= n {
			clear(row)
			continue
		}
		if o.SoftCap > 0 {
			var t []float32
			if th != nil {
				t = th[r*w+lo : r*w+n]
			}
			capScores(row[lo:n], t, o.SoftCap)
		}
		visit(r, row[lo:n])
		clear(row[:lo])
		clear(row[n:])
	}
	return off
}

// expRow sets p to exp(p - m) and returns its sum, with the vector exp
// over whole 16-lane groups where p's capacity allows: the lanes past
// len(p) are set to -Inf first, which exp turns into 0 (the diagonal
// tile's rows end anywhere, and their tails cost as much as 16 lanes).
func expRow(p []float32, m float32) float32 {
	q := p[:min(cap(p), (len(p)+15)&^15)]
	for i := len(p); i < len(q); i++ {
		q[i] = float32(math.Inf(-1))
	}
	return kernels.ExpSub(q, q, m)
}

// kvHead is one key/value head of a sequence laid out for the tile
// products, which read B row by row: kt = scale·kᵀ and, when not nil, vt =
// scale·vᵀ (D rows of ld floats), and k and v as contiguous [Tk, D] rows
// (the heads' rows are NKV*D apart in k and v, and rows that far apart
// share few L1 sets).
type kvHead struct {
	kt, vt, k, v []float32
	ld           int
}

// keyStride is the row stride of kt and vt: Tk rounded up to 16 floats,
// and 16 more so that a tile's rows (1 KiB apart at Tk = 256) do not all
// fall in the same few L1 sets.
func keyStride(Tk int) int { return (Tk+15)&^15 + 16 }

// fill lays out head g of s in the slices of kv that are not nil.
func (kv *kvHead) fill(s *AttnSeq, g, NH, NKV, D int, scale float32) {
	_, ldk := s.strides(NH, NKV, D)
	kernels.TransposeScaled(kv.kt, kv.ld, s.K[g*D:], ldk, s.Tk, D, scale)
	if kv.vt != nil {
		kernels.TransposeScaled(kv.vt, kv.ld, s.V[g*D:], ldk, s.Tk, D, scale)
	}
	if kv.k != nil {
		gather(kv.k, s.K[g*D:], s.Tk, ldk, D)
	}
	if kv.v != nil {
		gather(kv.v, s.V[g*D:], s.Tk, ldk, D)
	}
}

// gather copies n rows of D floats, ld apart in src, to dst.
func gather(dst, src []float32, n, ld, D int) {
	for j := 0; j < n; j++ {
		copy(dst[j*D:(j+1)*D], src[j*ld:j*ld+D])
	}
}

// AttnSeq is one sequence of a batched attention call, in the layouts
// above: T queries at positions Tk-T..Tk-1 over Tk keys. LSE ([NH, T]) may
// be nil in a forward (inference); a backward reads Out and LSE as the
// forward left them and sets those of DQ, DK, DV not nil.
//
// QStride and KVStride, when not 0, are the row strides of Q and DQ and
// of K, V, DK and DV in place of NH·D and NKV·D: q, k and v can then be
// read, and their gradients written, where a fused q|k|v projection has
// its rows (stride NH·D + 2·NKV·D) without copies.
type AttnSeq struct {
	Q, K, V, Out      []float32
	LSE               []float32
	DQ, DK, DV        []float32
	DOut              []float32
	T, Tk             int
	QStride, KVStride int
}

// strides returns s's row strides of Q and of K and V.
func (s *AttnSeq) strides(NH, NKV, D int) (ldq, ldk int) {
	ldq, ldk = NH*D, NKV*D
	if s.QStride != 0 {
		ldq = s.QStride
	}
	if s.KVStride != 0 {
		ldk = s.KVStride
	}
	return ldq, ldk
}

// check panics unless s's slices hold its rows.
func (s *AttnSeq) check(op string, NH, NKV, D int, backward bool) {
	checkAttention(op, s.T, s.Tk, NH, NKV, D)
	ldq, ldk := s.strides(NH, NKV, D)
	if ldq < NH*D || ldk < NKV*D {
		panic("nn: " + op + ": row strides " + strconv.Itoa(ldq) + ", " + strconv.Itoa(ldk) + " below the rows " +
			strconv.Itoa(NH*D) + ", " + strconv.Itoa(NKV*D))
	}
	// rows checks n rows of w floats ld apart (none when optional and nil).
	rows := func(what string, x []float32, n, ld, w int, optional bool) {
		if n > 0 && (x != nil || !optional) {
			checkLen(op+": "+what, x, (n-1)*ld+w)
		}
	}
	rows("q", s.Q, s.T, ldq, NH*D, false)
	rows("out", s.Out, s.T, NH*D, NH*D, false)
	rows("k", s.K, s.Tk, ldk, NKV*D, false)
	rows("v", s.V, s.Tk, ldk, NKV*D, false)
	if s.LSE != nil || backward {
		checkLen(op+": lse", s.LSE, NH*s.T)
	}
	if backward {
		rows("dout", s.DOut, s.T, NH*D, NH*D, false)
		rows("dq", s.DQ, s.T, ldq, NH*D, true)
		rows("dk", s.DK, s.Tk, ldk, NKV*D, true)
		rows("dv", s.DV, s.Tk, ldk, NKV*D, true)
	}
}

// AttentionForward computes out = softmax(scale·q·kᵀ + causal mask)·v for
// each query head. lse, when not nil, receives each query row's
// log-sum-exp for AttentionBackward; inference passes nil.
func AttentionForward(out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	AttentionForwardOpt(out, lse, q, k, v, T, Tk, NH, NKV, D, AttnOptions{Scale: scale})
}

// AttentionForwardOpt is AttentionForward with a sliding window and score
// soft-capping; masked keys get probability 0.
func AttentionForwardOpt(out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, o AttnOptions) {
	AttentionForwardBatch([]AttnSeq{{Q: q, K: k, V: v, Out: out, LSE: lse, T: T, Tk: Tk}}, NH, NKV, D, o)
}

// AttentionForwardBatch runs the forward of every sequence of a batch (a
// training batch, or the rows of a KV cache step), one parallel region for
// all of their heads.
func AttentionForwardBatch(seqs []AttnSeq, NH, NKV, D int, o AttnOptions) {
	for i := range seqs {
		seqs[i].check("AttentionForward", NH, NKV, D, false)
	}
	if forwardGrouped(seqs, NH, NKV, D, &o) {
		return
	}
	// A fused job is one key/value head's group of query heads, which
	// then read the group's keys and values from L2 after the first, when
	// that leaves a job per thread (else one query head). A tiled job is
	// one block of query rows of one head: more jobs than threads even for
	// a single prompt; a sequence's last (causally largest) blocks come
	// first, so the dynamic split ends on small jobs.
	fused := 0
	for i := range seqs {
		if seqs[i].T <= attnFusedMaxT {
			fused++
		}
	}
	perJob := 1 // query heads of a fused job
	if fused*NKV >= kernels.Threads() {
		perJob = NH / NKV
	}
	count := func(s *AttnSeq) int {
		if s.T <= attnFusedMaxT {
			return NH / perJob
		}
		return NH * ((s.T + attnBlock - 1) / attnBlock)
	}
	jobs := 0
	for i := range seqs {
		jobs += count(&seqs[i])
	}
	// The tiled sequences' keys and values, laid out once for all of
	// their heads and query blocks: kv[i*NKV+g] for head g of sequence i.
	kv := make([]kvHead, len(seqs)*NKV)
	var prep []int
	n := 0
	for i := range seqs {
		if s := &seqs[i]; s.T > attnFusedMaxT {
			for g := 0; g < NKV; g++ {
				prep = append(prep, i*NKV+g)
			}
			n += NKV * D * (keyStride(s.Tk) + s.Tk)
		}
	}
	buf := getKT(n)
	defer ktPool.Put(buf)
	n = 0
	for _, x := range prep {
		Tk := seqs[x/NKV].Tk
		ld := keyStride(Tk)
		kv[x] = kvHead{kt: (*buf)[n : n+D*ld], v: (*buf)[n+D*ld : n+D*ld+Tk*D], ld: ld}
		n += D*ld + Tk*D
	}
	kernels.For(len(prep), 1, func(lo, hi int) {
		for _, x := range prep[lo:hi] {
			kv[x].fill(&seqs[x/NKV], x%NKV, NH, NKV, D, o.Scale)
		}
	})
	attnJobs(jobs, func(ws *attnWork, j int) {
		k := 0
		for ; j >= count(&seqs[k]); k++ {
			j -= count(&seqs[k])
		}
		s := &seqs[k]
		if s.T <= attnFusedMaxT {
			for h := j * perJob; h < (j+1)*perJob; h++ {
				forwardFused(ws, s, h, NH, NKV, D, &o)
			}
			return
		}
		h, b := j%NH, count(s)/NH-1-j/NH
		forwardTiled(ws, s, &kv[k*NKV+h/(NH/NKV)], h, b*attnBlock, NH, D, &o)
	})
}

// forwardGrouped runs a batch of tiled sequences with enough key/value
// heads for two jobs per thread (a training batch) as one job per key/value
// head, which lays out the head's keys and values in its own scratch and
// runs all blocks of the group's query heads: the same tiles without a
// copy of the whole batch's keys and values, or a region to make it. It
// reports whether it did.
func forwardGrouped(seqs []AttnSeq, NH, NKV, D int, o *AttnOptions) bool {
	if len(seqs)*NKV < attnGroupedJobs*kernels.Threads() {
		return false
	}
	for i := range seqs {
		if seqs[i].T <= attnFusedMaxT {
			return false
		}
	}
	group := NH / NKV
	attnJobs(len(seqs)*NKV, func(ws *attnWork, j int) {
		s, g := &seqs[j/NKV], j%NKV
		kv := kvHead{ld: keyStride(s.Tk)}
		kv.kt, kv.v = scratch(&ws.kt, D*kv.ld), scratch(&ws.k, s.Tk*D)
		kv.fill(s, g, NH, NKV, D, o.Scale)
		for h := g * group; h < (g+1)*group; h++ {
			for i0 := 0; i0 < s.T; i0 += attnBlock {
				forwardTiled(ws, s, &kv, h, i0, NH, D, o)
			}
		}
	})
	return true
}

// attnWork is one goroutine's scratch, reused across its jobs.
type attnWork struct{ a, b, c, m, l, kt, vt, k, q, dout []float32 }

// ktPool recycles the forward's key and value layouts between calls.
var ktPool sync.Pool

// getKT returns a pooled buffer of at least n floats.
func getKT(n int) *[]float32 {
	p, _ := ktPool.Get().(*[]float32)
	if p == nil || cap(*p) < n {
		b := make([]float32, n)
		return &b
	}
	*p = (*p)[:cap(*p)]
	return p
}

func scratch(p *[]float32, n int) []float32 {
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	return (*p)[:n]
}

// attnJobs runs fn(ws, j) for every j in [0, n) on up to Threads()
// goroutines, each taking the next job when it finishes one (the sequences
// of a batch may differ in length), each with scratch ws of its own,
// recycled between calls (a training step makes 24 of them, each needing
// a few hundred KiB per goroutine).
func attnJobs(n int, fn func(ws *attnWork, j int)) {
	var next atomic.Int64
	kernels.Run(min(kernels.Threads(), n), func(int) {
		ws, _ := workPool.Get().(*attnWork)
		if ws == nil {
			ws = new(attnWork)
		}
		for j := int(next.Add(1) - 1); j < n; j = int(next.Add(1) - 1) {
			fn(ws, j)
		}
		workPool.Put(ws)
	})
}

var workPool sync.Pool

// forwardFused is head h of s, one query row at a time: the scores by
// dot products, the output by axpys. Few rows (decode) need no GEMM.
func forwardFused(ws *attnWork, s *AttnSeq, h, NH, NKV, D int, o *AttnOptions) {
	T, Tk, g := s.T, s.Tk, h/(NH/NKV)
	ldq, ldk := s.strides(NH, NKV, D)
	row := scratch(&ws.a, Tk)
	for i := 0; i < T; i++ {
		lo, n := o.visible(i, T, Tk)
		qi := s.Q[i*ldq+h*D : i*ldq+h*D+D]
		p := row[lo:n]
		kernels.DotRows(p, o.Scale, qi, s.K[lo*ldk+g*D:], ldk)
		if o.SoftCap > 0 {
			capScores(p, nil, o.SoftCap)
		}
		m := kernels.Max(p)
		sum := kernels.ExpSub(p, p, m)
		kernels.Scale(1/sum, p)
		if s.LSE != nil {
			s.LSE[h*T+i] = m + float32(math.Log(float64(sum)))
		}
		oi := s.Out[(i*NH+h)*D : (i*NH+h+1)*D]
		clear(oi)
		kernels.AxpyRows(oi, p, s.V[lo*ldk+g*D:], ldk)
	}
}

// forwardTiled is the block of query rows [i0, i0+attnBlock) of head h of
// s, over the key tiles up to the block's diagonal: S = q·(scale·kᵀ) from
// its key/value head kv, then an online softmax (a running
// max m and sum l per row; out is rescaled by exp(m_old - m_new) when the
// max grows), out += exp(S - m)·v, and finally out /= l.
func forwardTiled(ws *attnWork, s *AttnSeq, kv *kvHead, h, i0, NH, D int, o *AttnOptions) {
	T, Tk := s.T, s.Tk
	ldq, _ := s.strides(NH, 1, D)
	ldo := NH * D
	bk := min(attnKeyTile, Tk)
	S := scratch(&ws.a, min(attnBlock, T)*bk)
	m, l := scratch(&ws.m, attnBlock), scratch(&ws.l, attnBlock)
	out := s.Out
	i1 := min(i0+attnBlock, T)
	c0, _ := o.visible(i0, T, Tk) // first key any row of the block sees
	c1 := Tk - T + i1             // keys up to the last row's diagonal
	for i := i0; i < i1; i++ {
		m[i-i0], l[i-i0] = float32(math.Inf(-1)), 0
		clear(out[i*ldo+h*D : i*ldo+h*D+D])
	}
	for j0 := c0; j0 < c1; j0 += bk {
		j1 := min(j0+bk, c1)
		off := scoreTile(S, nil, s.Q, ldq, kv, h, i0, i1, j0, j1, T, Tk, D, o, func(r int, p []float32) {
			mx := max(m[r], kernels.Max(p))
			sum := expRow(p, mx)
			if l[r] > 0 && mx > m[r] {
				f := float32(math.Exp(float64(m[r] - mx)))
				l[r] *= f
				kernels.Scale(f, out[(i0+r)*ldo+h*D:(i0+r)*ldo+h*D+D])
			}
			l[r] += sum
			m[r] = mx
		})
		kernels.AttnGemm(i1-i0, D, j1-j0, S, j1-j0, 1, kv.v[j0*D:], D, out[i0*ldo+h*D:], ldo, true,
			kernels.Cut{Mode: kernels.CutDepth, D: off})
	}
	for i := i0; i < i1; i++ {
		r := i - i0
		kernels.Scale(1/l[r], out[i*ldo+h*D:i*ldo+h*D+D])
		if s.LSE != nil {
			s.LSE[h*T+i] = m[r] + float32(math.Log(float64(l[r])))
		}
	}
}

// AttentionBackward sets dq, dk and dv (any may be nil) from dout, given
// the forward's out and lse.
func AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, scale float32) {
	AttentionBackwardOpt(dq, dk, dv, dout, out, lse, q, k, v, T, Tk, NH, NKV, D, AttnOptions{Scale: scale})
}

// AttentionBackwardOpt is AttentionBackward for AttentionForwardOpt with
// the same options.
func AttentionBackwardOpt(dq, dk, dv, dout, out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, o AttnOptions) {
	AttentionBackwardBatch([]AttnSeq{{Q: q, K: k, V: v, Out: out, LSE: lse, DQ: dq, DK: dk, DV: dv, DOut: dout, T: T, Tk: Tk}}, NH, NKV, D, o)
}

// AttentionBackwardBatch is the backward of AttentionForwardBatch. Each
// tile recomputes its scores, P = exp(S - lse), and the softmax backward
// dS = P ⊙ (dout·vᵀ - Δ) with Δ_i = dout_i·out_i (= Σ_j P_ij (dout·vᵀ)_ij,
// so no second pass over the keys). Masked keys have P = 0, which is all
// the window needs; soft-capping multiplies dS by 1 - tanh² of the
// recomputed scores. A job is one key/value head of one sequence: the
// query heads of a group all write that head's dk and dv rows, so
// splitting by group needs no locks. Each gradient's first product sets
// it and the later ones add, so the caller clears nothing.
func AttentionBackwardBatch(seqs []AttnSeq, NH, NKV, D int, o AttnOptions) {
	for i := range seqs {
		seqs[i].check("AttentionBackward", NH, NKV, D, true)
	}
	attnJobs(len(seqs)*NKV, func(ws *attnWork, j int) {
		if s := &seqs[j/NKV]; s.DQ != nil || s.DK != nil || s.DV != nil {
			backwardGroup(ws, s, j%NKV, NH, NKV, D, &o)
		}
	})
}

func backwardGroup(ws *attnWork, s *AttnSeq, g, NH, NKV, D int, o *AttnOptions) {
	T, Tk := s.T, s.Tk
	ldq, ldk := s.strides(NH, NKV, D)
	ldo := NH * D // out and dout
	bk := min(attnKeyTile, Tk)
	tile := min(attnBlock, T) * bk
	P, dS := scratch(&ws.a, tile), scratch(&ws.b, tile)
	var th []float32 // 1 - tanh² of the capped scores
	if o.SoftCap > 0 {
		th = scratch(&ws.c, tile)
	}
	delta := scratch(&ws.m, attnBlock)
	q, dq, dk, dv := s.Q, s.DQ, s.DK, s.DV
	// The group's keys and values transposed once for all of its heads and
	// blocks, both times scale: the scores' scale, and dS's for dq and dk
	// (dP·scale - Δ·scale = scale·(dP - Δ)).
	kv := kvHead{ld: keyStride(Tk)}
	kv.kt = scratch(&ws.kt, D*kv.ld)
	if dq != nil || dk != nil {
		kv.vt = scratch(&ws.vt, D*kv.ld)
	}
	if dq != nil {
		kv.k = scratch(&ws.k, Tk*D)
	}
	kv.fill(s, g, NH, NKV, D, o.Scale)
	// The block's queries and output gradients as contiguous rows, for
	// the products that read them as B (dk and dv).
	qb, dOb := scratch(&ws.q, attnBlock*D), scratch(&ws.dout, attnBlock*D)
	// The group's dk and dv rows below set are written: the first head's
	// blocks reach keys in increasing order, from the first key any query
	// sees; the keys no query sees get zeros.
	set := Tk
	if T > 0 {
		set, _ = o.visible(0, T, Tk)
	}
	clearKeys := func(j0, j1 int) {
		for _, d := range [][]float32{dk, dv} {
			for j := j0; d != nil && j < j1; j++ {
				clear(d[j*ldk+g*D : j*ldk+g*D+D])
			}
		}
	}
	clearKeys(0, set)
	// keyProduct is dk or dv's rows [j0, j0+w) += or = A·B: Aᵀ (w × m,
	// stored m × w) with the tile's causal cut; rows from e on set.
	keyProduct := func(A, B, C []float32, w, m, e int, cut kernels.Cut) {
		if e > 0 {
			kernels.AttnGemm(e, D, m, A, 1, w, B, D, C, ldk, true, cut)
		}
		if e < w {
			kernels.AttnGemm(w-e, D, m, A[e:], 1, w, B, D, C[e*ldk:], ldk, false, kernels.Cut{Mode: cut.Mode, D: cut.D + e})
		}
	}
	group := NH / NKV
	for h := g * group; h < (g+1)*group; h++ {
		for i0 := 0; i0 < T; i0 += attnBlock {
			i1 := min(i0+attnBlock, T)
			m := i1 - i0
			for i := i0; i < i1; i++ {
				delta[i-i0] = o.Scale * kernels.Dot(s.DOut[i*ldo+h*D:i*ldo+h*D+D], s.Out[i*ldo+h*D:i*ldo+h*D+D])
			}
			c0, _ := o.visible(i0, T, Tk)
			c1 := Tk - T + i1
			dO := s.DOut[i0*ldo+h*D:]
			if dk != nil {
				gather(qb, q[i0*ldq+h*D:], m, ldq, D)
			}
			if dv != nil {
				gather(dOb, dO, m, ldo, D)
			}
			for j0 := c0; j0 < c1; j0 += bk {
				j1 := min(j0+bk, c1)
				w := j1 - j0
				e := min(max(set-j0, 0), w) // the tile's first key row to set
				set = max(set, j1)
				off := scoreTile(P, th, q, ldq, &kv, h, i0, i1, j0, j1, T, Tk, D, o, func(r int, p []float32) {
					expRow(p, s.LSE[h*T+i0+r])
				})
				// Key j of the tile is seen by the block's rows r >= j+1-off.
				keys := kernels.Cut{Mode: kernels.CutDepthFrom, D: 1 - off}
				if dv != nil {
					// dv_g[j0:j1] += Pᵀ · dout_h[i0:i1]
					keyProduct(P, dOb, dv[j0*ldk+g*D:], w, m, e, keys)
				}
				if dq == nil && dk == nil {
					continue
				}
				// dS = P ⊙ (dout_h · v_gᵀ - Δ) (⊙ 1 - tanh²), times scale
				kernels.AttnGemm(m, w, D, dO, ldo, 1, kv.vt[j0:], kv.ld, dS, w, false, kernels.Cut{Mode: kernels.CutCols, D: off})
				for i := i0; i < i1; i++ {
					r := i - i0
					lo, n := o.visibleIn(i, T, Tk, j0, j1)
					d, p := dS[r*w:(r+1)*w], P[r*w:(r+1)*w]
					if lo >= n {
						clear(d)
						continue
					}
					// p·(d - Δ) as p·d - Δ·p, two vector passes
					kernels.Mul(d[lo:n], d[lo:n], p[lo:n])
					kernels.Axpy(-delta[r], p[lo:n], d[lo:n])
					if th != nil {
						kernels.Mul(d[lo:n], d[lo:n], th[r*w+lo:r*w+n])
					}
					clear(d[:lo])
					clear(d[n:])
				}
				if dq != nil {
					// dq_h[i0:i1] (+)= scale · dS · k_g[j0:j1], set by the block's first tile
					kernels.AttnGemm(m, D, w, dS, w, 1, kv.k[j0*D:], D, dq[i0*ldq+h*D:], ldq, j0 > c0, kernels.Cut{Mode: kernels.CutDepth, D: off})
				}
				if dk != nil {
					// dk_g[j0:j1] += scale · dSᵀ · q_h[i0:i1]
					keyProduct(dS, qb, dk[j0*ldk+g*D:], w, m, e, keys)
				}
			}
		}
	}
	clearKeys(set, Tk)
}
