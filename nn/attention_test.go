package nn

import (
	"fmt"
	"runtime"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

type attnFwd func(out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions)

// withFusedMaxT runs the forward with attnFusedMaxT set to max: every T
// fused (a huge max) or every T tiled (-1).
func withFusedMaxT(max int) attnFwd {
	return func(out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
		defer func(m int) { attnFusedMaxT = m }(attnFusedMaxT)
		attnFusedMaxT = max
		AttentionForwardOpt(out, lse, q, k, v, T, Tk, NH, NKV, D, *o)
	}
}

var attnFwdImpls = []struct {
	name string
	fwd  attnFwd
}{
	{"dispatch", func(out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
		AttentionForwardOpt(out, lse, q, k, v, T, Tk, NH, NKV, D, *o)
	}},
	{"fused", withFusedMaxT(1 << 30)},
	{"tiled", withFusedMaxT(-1)},
	{"grouped", func(out, lse, q, k, v []float32, T, Tk, NH, NKV, D int, o *AttnOptions) {
		defer func(m, g int) { attnFusedMaxT, attnGroupedJobs = m, g }(attnFusedMaxT, attnGroupedJobs)
		attnFusedMaxT, attnGroupedJobs = -1, 0
		AttentionForwardOpt(out, lse, q, k, v, T, Tk, NH, NKV, D, *o)
	}},
}

// attnVariants: plain causal, a sliding window shorter than most shapes'
// Tk (and than a query block), and soft-capping with a window.
var attnVariants = []struct {
	name    string
	window  int
	softCap float32
}{{"causal", 0, 0}, {"window5", 5, 0}, {"window3-softcap", 3, 1.5}}

var attnShapes = []struct{ T, Tk, NH, NKV, D int }{
	{1, 1, 1, 1, 1},
	{3, 3, 2, 2, 4},    // MHA
	{1, 17, 4, 2, 8},   // decode step with a cache
	{5, 12, 6, 2, 8},   // chunk of new tokens after a cached prefix, group 3
	{17, 17, 4, 1, 16}, // MQA
	{63, 63, 2, 1, 3},  // odd head size
	{70, 100, 2, 1, 8}, // more than one query block, past prefix
}

// attnKeyTiles: the default, and 7 keys, so that the small shapes cross
// several key tiles (the online softmax's rescaling, rows that see nothing
// of a tile, tiles ending mid-row).
var attnKeyTiles = []int{256, 7}

func TestAttention(t *testing.T) {
	defer func(kt int) { attnKeyTile = kt }(attnKeyTile)
	for _, sh := range attnShapes {
		T, Tk, NH, NKV, D := sh.T, sh.Tk, sh.NH, sh.NKV, sh.D
		for _, kt := range attnKeyTiles {
			for _, vr := range attnVariants {
				t.Run(fmt.Sprintf("T%dTk%dNH%dNKV%dD%d/tile%d/%s", T, Tk, NH, NKV, D, kt, vr.name), func(t *testing.T) {
					attnKeyTile = kt
					r := tu.NewRand(uint64(T*1000 + Tk*10 + D))
					q, k, v := tu.RandN(r, T*NH*D, 1), tu.RandN(r, Tk*NKV*D, 1), tu.RandN(r, Tk*NKV*D, 1)
					scale := float32(0.7)
					o := &AttnOptions{Scale: scale, Window: vr.window, SoftCap: vr.softCap}
					q64, k64, v64 := tu.To64(q), tu.To64(k), tu.To64(v)
					ref := func(q, k, v []float64) []float64 {
						out, _ := attentionOpt64(q, k, v, T, Tk, NH, NKV, D, float64(scale), vr.window, float64(vr.softCap))
						return out
					}
					out64, lse64 := attentionOpt64(q64, k64, v64, T, Tk, NH, NKV, D, float64(scale), vr.window, float64(vr.softCap))
					var out, lse []float32
					for _, impl := range attnFwdImpls {
						o1 := tu.RandN(r, T*NH*D, 1) // garbage the forward must overwrite
						l1 := tu.RandN(r, NH*T, 1)
						impl.fwd(o1, l1, q, k, v, T, Tk, NH, NKV, D, o)
						fwdClose(t, impl.name+" out", o1, out64)
						fwdClose(t, impl.name+" lse", l1, lse64)
						noLse := make([]float32, len(o1))
						impl.fwd(noLse, nil, q, k, v, T, Tk, NH, NKV, D, o)
						tu.AllClose(t, impl.name+" out with lse nil", noLse, tu.To64(o1), 0, 0)
						if impl.name == "dispatch" {
							out, lse = o1, l1
						}
					}

					dout := tu.RandN(r, T*NH*D, 1)
					d64 := tu.To64(dout)
					// garbage the backward must overwrite (it sets the gradients)
					g0q, g0k, g0v := tu.RandN(r, len(q), 1), tu.RandN(r, len(k), 1), tu.RandN(r, len(v), 1)
					dq, dk, dv := clone(g0q), clone(g0k), clone(g0v)
					AttentionBackwardOpt(dq, dk, dv, dout, out, lse, q, k, v, T, Tk, NH, NKV, D, *o)
					// Difference at most 48 elements of each input: the float64
					// reference costs O(T·Tk·NH·D) per evaluation.
					checkFD := func(name string, got []float32, f func([]float64) float64, x []float64) {
						idx := tu.Sample(r, len(x), 48)
						want := tu.NumGradAt(f, x, fdStep, idx)
						all := tu.To64(got)
						sub := make([]float64, len(idx))
						for k, i := range idx {
							sub[k] = all[i]
						}
						tu.GradClose(t, name, sub, want, gradRtol, 1e-6)
					}
					checkFD("dq", dq, func(p []float64) float64 { return dotLoss(ref(p, k64, v64), d64) }, q64)
					checkFD("dk", dk, func(p []float64) float64 { return dotLoss(ref(q64, p, v64), d64) }, k64)
					checkFD("dv", dv, func(p []float64) float64 { return dotLoss(ref(q64, k64, p), d64) }, v64)

					// Each gradient alone (others nil) gives the same values.
					for _, which := range []string{"dq", "dk", "dv"} {
						var q1, k1, v1 []float32
						var want []float32
						switch which {
						case "dq":
							q1, want = clone(g0q), dq
						case "dk":
							k1, want = clone(g0k), dk
						case "dv":
							v1, want = clone(g0v), dv
						}
						AttentionBackwardOpt(q1, k1, v1, dout, out, lse, q, k, v, T, Tk, NH, NKV, D, *o)
						got := q1
						if k1 != nil {
							got = k1
						} else if v1 != nil {
							got = v1
						}
						tu.AllClose(t, which+" alone", got, tu.To64(want), 0, 0)
					}
				})
			}
		}
	}
}

// A batch (a decode row, a chunk after a cached prefix and a prefill, so
// fused and tiled jobs mix, in one parallel region) gives exactly what each
// sequence gives alone.
func TestAttentionBatch(t *testing.T) {
	const NH, NKV, D = 6, 2, 8
	r := tu.NewRand(9)
	o := AttnOptions{Scale: 0.4, Window: 40}
	var seqs, alone []AttnSeq
	for _, sh := range [][2]int{{1, 30}, {9, 20}, {70, 70}} {
		T, Tk := sh[0], sh[1]
		s := AttnSeq{Q: tu.RandN(r, T*NH*D, 1), K: tu.RandN(r, Tk*NKV*D, 1), V: tu.RandN(r, Tk*NKV*D, 1),
			Out: make([]float32, T*NH*D), LSE: make([]float32, NH*T), DOut: tu.RandN(r, T*NH*D, 1),
			DQ: make([]float32, T*NH*D), DK: make([]float32, Tk*NKV*D), DV: make([]float32, Tk*NKV*D), T: T, Tk: Tk}
		seqs = append(seqs, s)
		a := s
		a.Out, a.LSE = make([]float32, len(s.Out)), make([]float32, len(s.LSE))
		a.DQ, a.DK, a.DV = make([]float32, len(s.DQ)), make([]float32, len(s.DK)), make([]float32, len(s.DV))
		alone = append(alone, a)
	}
	AttentionForwardBatch(seqs, NH, NKV, D, o)
	AttentionBackwardBatch(seqs, NH, NKV, D, o)
	for i, a := range alone {
		AttentionForwardOpt(a.Out, a.LSE, a.Q, a.K, a.V, a.T, a.Tk, NH, NKV, D, o)
		AttentionBackwardOpt(a.DQ, a.DK, a.DV, a.DOut, a.Out, a.LSE, a.Q, a.K, a.V, a.T, a.Tk, NH, NKV, D, o)
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"out", seqs[i].Out, a.Out}, {"lse", seqs[i].LSE, a.LSE}, {"dq", seqs[i].DQ, a.DQ}, {"dk", seqs[i].DK, a.DK}, {"dv", seqs[i].DV, a.DV}} {
			tu.AllClose(t, fmt.Sprintf("seq %d %s", i, c.name), c.got, tu.To64(c.want), 0, 0)
		}
	}
}

// The point of the tiling: neither direction holds a [T, Tk] matrix of
// scores or probabilities, so a long sequence's attention allocates a few
// tiles per goroutine, not NH·T·Tk floats (16 MiB here).
func TestAttentionMemory(t *testing.T) {
	const T, NH, D = 1024, 4, 16
	r := tu.NewRand(3)
	q, k, v := tu.RandN(r, T*NH*D, 1), tu.RandN(r, T*NH*D, 1), tu.RandN(r, T*NH*D, 1)
	out, lse, dout := make([]float32, len(q)), make([]float32, NH*T), tu.RandN(r, len(q), 1)
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
	step := func() {
		AttentionForward(out, lse, q, k, v, T, T, NH, NH, D, 0.25)
		AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, T, T, NH, NH, D, 0.25)
	}
	step() // the GEMM packing buffers are recycled after the first call
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	step()
	runtime.ReadMemStats(&m1)
	if got, full := m1.TotalAlloc-m0.TotalAlloc, uint64(4*NH*T*T); got > full/8 {
		t.Errorf("forward+backward at T=%d allocated %d bytes, want well under the %d of the probabilities", T, got, full)
	}
}

// Decode through a KV cache of capacity > Tk, one token at a time, must
// reproduce a full causal prefill.
func TestAttentionKVCacheDecode(t *testing.T) {
	const T, NH, NKV, D, capacity = 12, 4, 2, 8, 32
	r := tu.NewRand(5)
	q, k, v := tu.RandN(r, T*NH*D, 1), tu.RandN(r, T*NKV*D, 1), tu.RandN(r, T*NKV*D, 1)
	full := make([]float32, T*NH*D)
	AttentionForward(full, nil, q, k, v, T, T, NH, NKV, D, 0.3)

	kc, vc := make([]float32, capacity*NKV*D), make([]float32, capacity*NKV*D)
	got := make([]float32, T*NH*D)
	// prefill 5, then decode one by one
	copy(kc, k[:5*NKV*D])
	copy(vc, v[:5*NKV*D])
	AttentionForward(got, nil, q[:5*NH*D], kc[:5*NKV*D], vc[:5*NKV*D], 5, 5, NH, NKV, D, 0.3)
	for p := 5; p < T; p++ {
		copy(kc[p*NKV*D:], k[p*NKV*D:(p+1)*NKV*D])
		copy(vc[p*NKV*D:], v[p*NKV*D:(p+1)*NKV*D])
		Tk := p + 1
		AttentionForward(got[p*NH*D:], nil, q[p*NH*D:(p+1)*NH*D], kc[:Tk*NKV*D], vc[:Tk*NKV*D], 1, Tk, NH, NKV, D, 0.3)
	}
	// Outputs are O(1) averages of N(0,1) values; decode and prefill sum in
	// different orders, so a cancelling element can differ by a few ulps
	// of the terms (atol), not of itself.
	tu.AllClose(t, "decode", got, tu.To64(full), 1e-6, 1e-6)
}

func TestAttentionBadShape(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NH not a multiple of NKV did not panic")
		}
	}()
	AttentionForward(make([]float32, 48), nil, make([]float32, 48), make([]float32, 24), make([]float32, 24), 3, 3, 3, 2, 4, 1)
}

// Rows read and written with strides (q and dq in rows of a wider buffer,
// k|v and dk|dv side by side as in a fused q|k|v projection's output) give
// exactly the packed layout's values, and the gradients' other columns are
// left alone.
func TestAttentionStrided(t *testing.T) {
	const NH, NKV, D = 6, 2, 8
	defer func(m int) { attnFusedMaxT = m }(attnFusedMaxT)
	r := tu.NewRand(11)
	for _, fused := range []int{1 << 30, -1} { // fused loop, tiles
		attnFusedMaxT = fused
		for _, sh := range [][2]int{{1, 30}, {9, 20}, {70, 70}} {
			T, Tk := sh[0], sh[1]
			o := AttnOptions{Scale: 0.4, Window: 40}
			p := AttnSeq{Q: tu.RandN(r, T*NH*D, 1), K: tu.RandN(r, Tk*NKV*D, 1), V: tu.RandN(r, Tk*NKV*D, 1),
				Out: make([]float32, T*NH*D), LSE: make([]float32, NH*T), DOut: tu.RandN(r, T*NH*D, 1),
				DQ: make([]float32, T*NH*D), DK: make([]float32, Tk*NKV*D), DV: make([]float32, Tk*NKV*D), T: T, Tk: Tk}
			ldq, ldk := NH*D+5, 2*NKV*D
			q, kv := tu.RandN(r, T*ldq, 1), tu.RandN(r, Tk*ldk, 1)
			dq, dkv := tu.RandN(r, T*ldq, 1), tu.RandN(r, Tk*ldk, 1)
			dq0 := clone(dq)
			for i := 0; i < T; i++ {
				copy(q[i*ldq:], p.Q[i*NH*D:(i+1)*NH*D])
			}
			for j := 0; j < Tk; j++ {
				copy(kv[j*ldk:], p.K[j*NKV*D:(j+1)*NKV*D])
				copy(kv[j*ldk+NKV*D:], p.V[j*NKV*D:(j+1)*NKV*D])
			}
			s := AttnSeq{Q: q, K: kv, V: kv[NKV*D:], Out: make([]float32, T*NH*D), LSE: make([]float32, NH*T),
				DOut: p.DOut, DQ: dq, DK: dkv, DV: dkv[NKV*D:], T: T, Tk: Tk, QStride: ldq, KVStride: ldk}
			seqs := []AttnSeq{p, s}
			AttentionForwardBatch(seqs, NH, NKV, D, o)
			AttentionBackwardBatch(seqs, NH, NKV, D, o)
			name := fmt.Sprintf("fusedMax%d/T%dTk%d", fused, T, Tk)
			tu.AllClose(t, name+" out", s.Out, tu.To64(p.Out), 0, 0)
			tu.AllClose(t, name+" lse", s.LSE, tu.To64(p.LSE), 0, 0)
			for i := 0; i < T; i++ {
				tu.AllClose(t, name+" dq", dq[i*ldq:i*ldq+NH*D], tu.To64(p.DQ[i*NH*D:(i+1)*NH*D]), 0, 0)
				tu.AllClose(t, name+" dq's padding", dq[i*ldq+NH*D:(i+1)*ldq], tu.To64(dq0[i*ldq+NH*D:(i+1)*ldq]), 0, 0)
			}
			for j := 0; j < Tk; j++ {
				tu.AllClose(t, name+" dk", dkv[j*ldk:j*ldk+NKV*D], tu.To64(p.DK[j*NKV*D:(j+1)*NKV*D]), 0, 0)
				tu.AllClose(t, name+" dv", dkv[j*ldk+NKV*D:(j+1)*ldk], tu.To64(p.DV[j*NKV*D:(j+1)*NKV*D]), 0, 0)
			}
		}
	}
}
