package kernels

import (
	"sync"
	"sync/atomic"
)

// The blocked GEMM follows Goto/BLIS: C is computed in nc-wide column
// blocks; for each kc-deep slice of K a kc×nc block of op(B) is packed into
// nr-wide panels (sized for L3), then each goroutine packs mc×kc blocks of
// alpha*op(A) into mr-tall panels (sized for L2) and sweeps the micro-kernel
// over panel pairs, with one B panel (kc×nr, 16 or 32 KiB) staying in L1.
// Packing absorbs every transpose, so all four op(A)/op(B) combinations run
// the same micro-kernel.
//
// The block sizes are variables only so BenchmarkBlocking can sweep them.
var (
	kc = 256  // depth of a packed slice: a B panel is kc*nr*4 = 16 or 32 KiB (L1)
	mc = 264  // rows of packed A per block: mc*kc*4 = 264 KiB (L2)
	nc = 3072 // columns of packed B per block: kc*nc*4 = 3 MiB (L3)

	// ncPerThread caps a block at this many columns per goroutine: a
	// goroutine's share of packed B, 1.5 MiB, stays near its L2 (one
	// thread on a 3072-wide block ran the lm head and mlp-up 4-6% slower).
	ncPerThread = 1536
)

const maxMR, maxNR = 12, 32 // the largest micro-tile, for edge scratch

// geom describes a micro-kernel: it computes an mr×nr tile of C from an
// mr-row panel of packed A and an nr-column panel of packed B, as
//
//	C[i*ldc+j] = sum_p a[p*mr+i]*b[p*nr+j] + beta*C[i*ldc+j]
//
// (C not read when beta == 0), on full tiles only.
type geom struct {
	name   string
	mr, nr int
	kernel func(k int, a, b, c []float32, ldc int, beta float32)
}

// bufs recycles packing buffers so steady-state calls neither allocate
// nor touch fresh pages. Not a sync.Pool: a GC empties that, and it hands
// any size to any caller, so a 3 MiB B buffer came back as a fresh
// allocation after a small A buffer had been taken, and packing into
// never-touched pages (a page fault per 4 KiB) cost a fifth of a Llama
// prefill. The list is small: a product holds at most 1+Threads buffers.
var bufs struct {
	mu   sync.Mutex
	free []*[]float32
}

const maxFreeBufs = 16

// getBuf returns a buffer of length n, the smallest free one that fits.
func getBuf(n int) *[]float32 {
	bufs.mu.Lock()
	best := -1
	for i, p := range bufs.free {
		if cap(*p) >= n && (best < 0 || cap(*p) < cap(*bufs.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		p := bufs.free[best]
		last := len(bufs.free) - 1
		bufs.free[best] = bufs.free[last]
		bufs.free = bufs.free[:last]
		bufs.mu.Unlock()
		*p = (*p)[:n]
		return p
	}
	bufs.mu.Unlock()
	s := make([]float32, n)
	return &s
}

// putBuf returns p to the free list, dropping the smallest buffer when the
// list is full.
func putBuf(p *[]float32) {
	bufs.mu.Lock()
	defer bufs.mu.Unlock()
	if len(bufs.free) < maxFreeBufs {
		bufs.free = append(bufs.free, p)
		return
	}
	small := 0
	for i, q := range bufs.free {
		if cap(*q) < cap(*bufs.free[small]) {
			small = i
		}
	}
	if cap(*p) > cap(*bufs.free[small]) {
		bufs.free[small] = p
	}
}

func (g *gemm) blocked(threads int) {
	ge := pickGeom()
	mPanels := (g.M + ge.mr - 1) / ge.mr
	nbuf := min(threads, 2)
	ncb := min(nc, roundUp(ncPerThread*threads, ge.nr))
	bsize := kc * min(ncb, roundUp(g.N, ge.nr))
	bp := getBuf(nbuf * bsize)
	defer putBuf(bp)
	if threads == 1 {
		// A separate variable from the threaded branch's keeps this one on
		// the stack: small products then run without allocating.
		r := blockedRun{*g, ge, 1, mPanels, false, ncb, nbuf, bsize, *bp, nil}
		r.work(0)
		return
	}
	// Split the columns between goroutines when C is wide, or op(A) is
	// untransposed (its packing is an assembly transpose, cheap to do
	// twice): each then packs exactly the B panels it uses, so packed B
	// never moves between cores' caches and barriers are rare, at the price
	// of each goroutine packing all of op(A). Otherwise (dW = dyᵀ·x) split
	// the rows (each packs its own A) and share the packed B, with a barrier
	// per block. Measured on the transformer shapes at 2 threads: columns
	// win by 2-5% on 1024×768×3072 and 1024³, rows by 8% on the dW shape.
	nPanels := (min(ncb, g.N) + ge.nr - 1) / ge.nr
	r := &blockedRun{*g, ge, threads, mPanels, false, ncb, 1, bsize, *bp, newBarrier(threads)}
	wide := g.N >= 2*g.M || !g.transA
	if !(wide && nPanels >= 2*threads) && mPanels >= 4*threads {
		r.splitM, r.nbuf = true, nbuf
	}
	Run(threads, r.work)
}

// blockedRun is the state of one blocked product shared by its goroutines.
type blockedRun struct {
	g           gemm
	ge          *geom
	threads     int
	mPanels     int
	splitM      bool
	nc          int // columns per block
	nbuf, bsize int
	bpack       []float32 // nbuf buffers of bsize
	bar         *barrier
}

// work is goroutine t's part. Every goroutine walks all (jc, pc) blocks
// and packs its share of each block's B panels. Splitting columns, it then
// computes on just those panels (with a barrier only between column
// blocks). Splitting rows, it first waits at the barrier until the whole
// block is packed; two B buffers alternate, so one barrier per block is
// enough: a goroutine packing block i+1 has passed barrier i, which every
// goroutine reaches only after finishing block i-1.
func (r *blockedRun) work(t int) {
	g, ge, threads := &r.g, r.ge, r.threads
	mr, nr := ge.mr, ge.nr
	asize := roundUp(mc, mr) * kc
	// When op(A) is a single row block and C has several column blocks
	// (the lm head: 256 rows, 50257 columns), pack A once per K slice and
	// keep it for every column block instead of repacking it each time.
	slices := 1
	nc := r.nc
	keepA := !r.splitM && g.M <= mc && g.N > nc
	if keepA {
		slices = (g.K + kc - 1) / kc
	}
	ap := getBuf(slices*asize + maxMR*maxNR)
	defer putBuf(ap)
	apacks, tile := (*ap)[:slices*asize], (*ap)[slices*asize:]
	block := 0
	for jc := 0; jc < g.N; jc += nc {
		ncur := min(nc, g.N-jc)
		nPanels := (ncur + nr - 1) / nr
		for pc := 0; pc < g.K; pc += kc {
			kcur := min(kc, g.K-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1 // later K slices accumulate onto the first
			}
			b := block % r.nbuf
			bpack := r.bpack[b*r.bsize : (b+1)*r.bsize]
			block++
			lo, hi := t*nPanels/threads, (t+1)*nPanels/threads
			if !r.splitM && jc > 0 && pc == 0 {
				// A narrower last column block shifts the shares: wait
				// until nobody computes on the previous block's panels.
				r.bar.wait()
			}
			switch {
			case r.splitM:
				g.packB(nr, bpack, pc, kcur, jc, ncur, lo, hi)
				r.bar.wait()
				r0, r1 := t*r.mPanels/threads*mr, min((t+1)*r.mPanels/threads*mr, g.M)
				g.macro(ge, apacks, tile, bpack, pc, kcur, jc, ncur, r0, r1, 0, nPanels, beta)
			case keepA:
				g.packB(nr, bpack, pc, kcur, jc, ncur, lo, hi)
				apack := apacks[pc/kc*asize : (pc/kc+1)*asize]
				if jc == 0 {
					g.packA(mr, apack, 0, g.M, pc, kcur)
				}
				if lo < hi {
					g.tiles(ge, apack, tile, bpack, kcur, jc, ncur, 0, g.M, lo, hi, beta)
				}
			default:
				g.packB(nr, bpack, pc, kcur, jc, ncur, lo, hi)
				g.macro(ge, apacks, tile, bpack, pc, kcur, jc, ncur, 0, g.M, lo, hi, beta)
			}
		}
	}
}

// barrier makes n goroutines wait for each other. A waiter spins briefly
// before sleeping: blocks are short, and waking a parked thread costs
// tens of microseconds.
type barrier struct {
	n     int32
	count atomic.Int32
	gen   atomic.Uint32
	mu    sync.Mutex
	cond  sync.Cond
}

func newBarrier(n int) *barrier {
	b := &barrier{n: int32(n)}
	b.cond.L = &b.mu
	return b
}

func (b *barrier) wait() {
	if b == nil || b.n <= 1 {
		return
	}
	gen := b.gen.Load()
	if b.count.Add(1) == b.n {
		b.count.Store(0)
		b.mu.Lock()
		b.gen.Add(1)
		b.mu.Unlock()
		b.cond.Broadcast()
		return
	}
	if spin(func() bool { return b.gen.Load() != gen }) {
		return
	}
	b.mu.Lock()
	for b.gen.Load() == gen {
		b.cond.Wait()
	}
	b.mu.Unlock()
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// macro computes rows [r0,r1) of C against B panels [p0,p1) of the packed
// block, packing A blocks into apack; tile is scratch for edge tiles.
func (g *gemm) macro(ge *geom, apack, tile, bpack []float32, pc, kcur, jc, ncur, r0, r1, p0, p1 int, beta float32) {
	if r0 >= r1 || p0 >= p1 {
		return
	}
	for ic := r0; ic < r1; ic += mc {
		mcur := min(mc, r1-ic)
		g.packA(ge.mr, apack, ic, mcur, pc, kcur)
		g.tiles(ge, apack, tile, bpack, kcur, jc, ncur, ic, mcur, p0, p1, beta)
	}
}

// tiles computes rows [ic,ic+mcur) of C, packed in apack, against B panels
// [p0,p1) of the packed block.
func (g *gemm) tiles(ge *geom, apack, tile, bpack []float32, kcur, jc, ncur, ic, mcur, p0, p1 int, beta float32) {
	mr, nr, kernel := ge.mr, ge.nr, ge.kernel
	for jp := p0; jp < p1; jp++ {
		j0 := jc + jp*nr
		nrc := min(nr, jc+ncur-j0)
		bpanel := bpack[jp*nr*kc : jp*nr*kc+nr*kcur]
		for ip := 0; ip*mr < mcur; ip++ {
			i0 := ic + ip*mr
			mrc := min(mr, ic+mcur-i0)
			apanel := apack[ip*mr*kcur : (ip+1)*mr*kcur]
			if mrc == mr && nrc == nr {
				kernel(kcur, apanel, bpanel, g.C[i0*g.ldc+j0:], g.ldc, beta)
				continue
			}
			// Edge tile: compute the full tile into scratch (packing
			// padded the panels with zeros) and merge the valid part.
			kernel(kcur, apanel, bpanel, tile, nr, 0)
			for i := 0; i < mrc; i++ {
				c := g.C[(i0+i)*g.ldc+j0 : (i0+i)*g.ldc+j0+nrc]
				t := tile[i*nr : i*nr+nrc]
				if beta == 0 {
					copy(c, t)
					continue
				}
				for j := range c {
					c[j] = t[j] + beta*c[j]
				}
			}
		}
	}
}

// packA writes rows [i0,i0+mcur) and columns [pc,pc+kcur) of alpha*op(A)
// as mr-row panels: panel ip holds element (ip*mr+i, p) at ip*mr*kcur +
// p*mr + i. Rows past M are zero.
func (g *gemm) packA(mr int, dst []float32, i0, mcur, pc, kcur int) {
	alpha := g.alpha
	if g.transA {
		g.packAT(mr, dst, i0, mcur, pc, kcur)
		return
	}
	for ip := 0; ip*mr < mcur; ip++ {
		panel := dst[ip*mr*kcur : (ip+1)*mr*kcur]
		r := i0 + ip*mr
		transposeInto(panel, g.A[r*g.lda+pc:], g.lda, min(mr, i0+mcur-r), kcur, mr)
		if alpha != 1 {
			scale(alpha, panel[:kcur*mr])
		}
	}
}

// transposeInto writes n stored rows of src (row stride ld), kcur values
// from each, as the columns of a panel of width w: panel[p*w+i] =
// src[i*ld+p], with columns n..w-1 zero. Full panels take the assembly
// transpose for the bulk of the depth.
func transposeInto(panel, src []float32, ld, n, kcur, w int) {
	done := 0
	if n == w {
		done = packT(panel, src, ld, kcur, w)
	}
	for i := 0; i < n; i++ {
		for p, v := range src[i*ld+done : i*ld+kcur] {
			panel[(done+p)*w+i] = v
		}
	}
	for i := n; i < w; i++ {
		for p := 0; p < kcur; p++ {
			panel[p*w+i] = 0
		}
	}
}

// packAT is packA for a transposed A (stored K×M, as dW = dyᵀ·x has it):
// the panels' rows are runs within stored rows, so it walks each stored row
// once, left to right, dealing its runs out to the panels. (Panel by panel
// it would revisit every stored row once per panel, each time for 48 bytes.)
func (g *gemm) packAT(mr int, dst []float32, i0, mcur, pc, kcur int) {
	alpha := g.alpha
	panels := (mcur + mr - 1) / mr
	full := mcur / mr // panels with all mr rows
	step := mr * kcur // between panels
	for p := 0; p < kcur; p++ {
		row := g.A[(pc+p)*g.lda+i0 : (pc+p)*g.lda+i0+mcur]
		d := dst[p*mr:]
		ip := 0
		if alpha == 1 && full > 0 {
			ip = packRowA(d, row, full, mr, step)
		}
		for ; ip < panels; ip++ {
			src := row[ip*mr : min((ip+1)*mr, mcur)]
			out := d[ip*step : ip*step+mr]
			for i, v := range src {
				out[i] = alpha * v
			}
			clear(out[len(src):])
		}
	}
}

// packB writes B panels [p0,p1) of the block at rows [pc,pc+kcur) and
// columns [jc,jc+ncur) of op(B): panel jp holds element (p, jp*nr+j) at
// jp*nr*kc + p*nr + j. Columns past the block are zero. Panels sit
// kc*nr apart whatever kcur is, so a goroutine packing a shallower block
// cannot overwrite panels another goroutine still reads.
func (g *gemm) packB(nr int, dst []float32, pc, kcur, jc, ncur, p0, p1 int) {
	if p0 >= p1 {
		return
	}
	if !g.transB {
		// Row by row, so B is read sequentially: with long rows (the
		// vocabulary-sized lm head) panel-by-panel reads would touch a new
		// page for every nr floats.
		full := min(p1, (ncur/nr)) - p0 // panels with all nr columns
		for p := 0; p < kcur; p++ {
			row := g.B[(pc+p)*g.ldb:]
			done := 0
			if full > 0 {
				j0 := jc + p0*nr
				done = packRow(dst[p0*nr*kc+p*nr:], row[j0:j0+full*nr], full, nr, nr*kc, g.ldb)
			}
			for jp := p0 + done; jp < p1; jp++ {
				j0 := jc + jp*nr
				cols := min(nr, jc+ncur-j0)
				d := dst[jp*nr*kc+p*nr : jp*nr*kc+p*nr+nr]
				// Fixed-size array copies compile to inline vector moves;
				// a memmove call per 64 or 128 bytes costs more than the copy.
				switch {
				case cols == 32 && nr == 32:
					*(*[32]float32)(d) = *(*[32]float32)(row[j0:])
				case cols == 16 && nr == 16:
					*(*[16]float32)(d) = *(*[16]float32)(row[j0:])
				default:
					copy(d, row[j0:j0+cols])
					clear(d[cols:])
				}
			}
		}
		return
	}
	for jp := p0; jp < p1; jp++ {
		panel := dst[jp*nr*kc : jp*nr*kc+nr*kcur]
		j0 := jc + jp*nr
		transposeInto(panel, g.B[j0*g.ldb+pc:], g.ldb, min(nr, jc+ncur-j0), kcur, nr)
	}
}

// gemv handles M <= gemvRows: each row of C is a matrix-vector product,
// bound by streaming B once, so it runs straight from B with the vector
// kernels, split over column ranges of C.
func (g *gemm) gemv(threads int) {
	M, N, K := g.M, g.N, g.K
	ap := getBuf(M * K)
	defer putBuf(ap)
	a := *ap
	// alpha*op(A), one contiguous row per row of C
	for i := 0; i < M; i++ {
		row := a[i*K : i*K+K]
		for p := range row {
			if g.transA {
				row[p] = g.alpha * g.A[p*g.lda+i]
			} else {
				row[p] = g.alpha * g.A[i*g.lda+p]
			}
		}
	}
	if threads == 1 {
		g.gemvRange(a, 0, N)
		return
	}
	gc := *g // a copy, so that only the threaded call allocates
	Run(threads, func(t int) { gc.gemvRange(a, t*N/threads, (t+1)*N/threads) })
}

// gemvRange computes columns [lo,hi) of C for gemv; a holds alpha*op(A)
// as M contiguous rows of K.
func (g *gemm) gemvRange(a []float32, lo, hi int) {
	M, K := g.M, g.K
	if g.transB {
		for j := lo; j < hi; j++ {
			b := g.B[j*g.ldb : j*g.ldb+K]
			for i := 0; i < M; i++ {
				s := dot(a[i*K:i*K+K], b)
				c := &g.C[i*g.ldc+j]
				if g.beta == 0 {
					*c = s
				} else {
					*c = s + g.beta**c
				}
			}
		}
		return
	}
	// Column chunks keep the M rows of C being accumulated in L1.
	const chunk = 1024
	for j0 := lo; j0 < hi; j0 += chunk {
		j1 := min(j0+chunk, hi)
		for i := 0; i < M; i++ {
			c := g.C[i*g.ldc+j0 : i*g.ldc+j1]
			if g.beta == 0 {
				clear(c)
			} else if g.beta != 1 {
				scale(g.beta, c)
			}
		}
		for p := 0; p < K; p++ {
			b := g.B[p*g.ldb+j0 : p*g.ldb+j1]
			for i := 0; i < M; i++ {
				if av := a[i*K+p]; av != 0 {
					axpy(av, b, g.C[i*g.ldc+j0:i*g.ldc+j1])
				}
			}
		}
	}
}
