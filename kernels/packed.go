package kernels

// A prefill's products x·Wᵀ read each weight once from memory, and the
// blocked GEMM spends that read transposing W's rows into nr-wide panels
// (packB): a fifth of a GPT-2 prefill's time. A model that only generates
// can pack its frozen weights once and keep the panels (one more copy of
// the weights); SgemmPackedBT then reads them where it would have packed.

// PackedB is the transposed B of a product with B stored N×K (a Linear's
// W [out, in]) packed into the blocked GEMM's panels, every K slice of all
// N columns, for the micro-kernel it was packed for.
type PackedB struct {
	n, k   int
	kc     int // the slice depth packed (kc is swept by benchmarks)
	ge     *geom
	slices [][]float32 // per kc-deep slice of K: the panels, bstep(nr) apart
}

// PackBT packs B (N×K, row stride ldb) for SgemmPackedBT, using the
// threads. It holds about N·K floats (rounded up to whole panels).
func PackBT(N, K int, B []float32, ldb int) *PackedB {
	checkGemm(false, true, 0, N, K, nil, max(K, 1), B, ldb, nil, max(N, 1))
	ge := pickGeom()
	nPanels := (N + ge.nr - 1) / ge.nr
	p := &PackedB{n: N, k: K, kc: kc, ge: ge, slices: make([][]float32, (K+kc-1)/kc)}
	g := gemm{transB: true, N: N, K: K, B: B, ldb: ldb}
	for s := range p.slices {
		pc := s * kc
		kcur := min(kc, K-pc)
		dst := make([]float32, nPanels*bstep(ge.nr))
		For(nPanels, 16, func(p0, p1 int) { g.packB(ge.nr, dst, pc, kcur, 0, N, p0, p1) })
		p.slices[s] = dst
	}
	return p
}

// Floats is the memory the panels hold, in float32s.
func (p *PackedB) Floats() int {
	n := 0
	for _, s := range p.slices {
		n += len(s)
	}
	return n
}

// block returns the panels of slice pc from column jc on (jc a multiple of
// nr), as packB would have written them for a block starting at jc.
func (p *PackedB) block(pc, jc int) []float32 {
	return p.slices[pc/kc][jc/p.ge.nr*bstep(p.ge.nr):]
}

// SgemmPackedBT is Sgemm(false, true, M, N, K, 1, A, lda, B, ldb, 0, C,
// ldc) where the blocked kernels read op(B)'s panels from pb (PackBT of this
// B) instead of packing them: the same bits, without the per-call
// transpose. Products the blocked kernels do not run (M ≤ 4 rows, tiny
// ones) read B itself, as does everything when pb was packed for another
// micro-kernel or slice depth than the ones in use.
func SgemmPackedBT(M, N, K int, A []float32, lda int, B []float32, ldb int, pb *PackedB, C []float32, ldc int) {
	checkGemm(false, true, M, N, K, A, lda, B, ldb, C, ldc)
	if pb.n != N || pb.k != K {
		panic("kernels: PackedB of another shape")
	}
	g := gemm{transB: true, M: M, N: N, K: K, alpha: 1, A: A, lda: lda, B: B, ldb: ldb, C: C, ldc: ldc}
	if pb.ge == pickGeom() && pb.kc == kc {
		g.pb = pb
	}
	g.runThreaded()
}

// readAhead brings part i of n of buf into L2: called once per A panel
// with the next B panel, it spreads that panel's read from memory (a
// prepacked panel is not in cache as a freshly packed one is) over the
// current panel's products.
func readAhead(buf []float32, i, n int) {
	lines := (len(buf) + 15) / 16
	if l0, l1 := i*lines/n, (i+1)*lines/n; l1 > l0 {
		prefetchL2(&buf[l0*16], l1-l0)
	}
}
