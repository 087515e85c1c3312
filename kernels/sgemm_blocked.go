package kernels

import (
	"sync"
	"sync/atomic"
)

// The blocked GEMM follows Goto/BLIS: for each kc-deep slice of K, a
// block of op(B) columns is packed into nr-wide panels, alpha*op(A) into
// mr-tall panels in blocks of mc rows (sized for L2), and the micro-kernel
// sweeps over panel pairs, one B panel (kc×nr) against every A panel of the
// block. Packing absorbs every transpose, so all four op(A)/op(B)
// combinations run the same micro-kernel.
//
// Goroutines split C by columns (columns: each computes whole chunks of C
// alone, packing its own B) or, for the dW = dyᵀ·x shape, by rows
// (blockedRun: they pack each B block together and share it).
//
// The block sizes are variables only so the benchmarks can sweep them.
var (
	// kc is the depth of a packed slice. Every slice after the first
	// reads and writes the whole C block again, and a 384-deep slice makes
	// the transformer's 768-deep products two slices instead of three: they
	// ran 3-10% faster than at 256 on a Sapphire Rapids (2 threads,
	// BenchmarkBlocking), although a 32-wide B panel (48 KiB) then no longer
	// fits in L1 beside its A panel; the micro-kernel streams both from L2.
	kc = 384
	mc = 264  // rows of packed A per block: mc*kc*4 = 396 KiB (L2)
	nc = 3072 // columns of a shared B block when splitting rows: 4.5 MiB (L3)

	// ncPerThread caps a column chunk (and a goroutine's share of a shared
	// block): 1024 columns of packed B, 1.5 MiB, stay near one core's L2
	// (blocks twice as wide ran the lm head and mlp-up 4-6% slower).
	ncPerThread = 1024
)

const maxMR, maxNR = 12, 32 // the largest micro-tile, for edge scratch

// useInPlaceA lets the micro-kernels read an untransposed op(A) in place
// where the CPU has kernelA; a variable so benchmarks can turn it off.
var useInPlaceA = true

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

	// kernel4, when set, computes 4 rows of a tile from a panel whose rows
	// are astride floats apart, C[i*ldc+j] = sum_p a[p*astride+i]*b[p*nr+j]
	// + beta*C[i*ldc+j] for i < 4, so a block's last panel, partly rows
	// past M, costs as many 4-row groups as it has rows, not a full tile
	// (the lm head's 256 rows are 21 full panels and 4 rows).
	kernel4 func(k int, a []float32, astride int, b, c []float32, ldc int, beta float32)

	// kernelPack, when set, is kernel with its B panel read from a
	// row-major B (src[p*ldsrc+j]) and written packed to b on the way.
	kernelPack func(k int, a, b, c []float32, ldc int, beta float32, src []float32, ldsrc int)

	// kernelA, when set, is kernel with A read in place from mr rows of a
	// row-major A, a[i*lda+p], instead of a packed panel.
	kernelA func(k int, a []float32, lda int, b, c []float32, ldc int, beta float32)
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
	if g.bh != nil {
		ge = g.pickHalfGeom()
	}
	mPanels := (g.M + ge.mr - 1) / ge.mr
	nPanels := (g.N + ge.nr - 1) / ge.nr
	// Reading A in place costs the kernel a little on every B panel (12
	// strided rows instead of one packed stream), where packing costs once
	// per product: on the transformer's products at 2 threads in place ran
	// 3-7% faster with 768 columns of C and 0-3% slower with 2048 and
	// more (BenchmarkInPlaceA), and slower still on the head's backward,
	// whose op(A) (dlogits) is read from memory, not from cache.
	g.inPlaceA = useInPlaceA && ge.kernelA != nil && !g.transA && g.alpha == 1 && g.bh == nil &&
		g.N <= ncPerThread && g.M*g.K <= aShareFloats
	// Split the columns between goroutines when C is wide, or op(A) is
	// untransposed (its packing is an assembly transpose, cheap to do
	// twice): each then packs exactly the B panels it uses, so packed B
	// never moves between cores' caches and no goroutine waits for
	// another, at the price of each goroutine packing all of op(A).
	// Otherwise (dW = dyᵀ·x) split the rows (each packs its own A) and
	// share the packed B, with a barrier per block. Measured on the
	// transformer shapes at 2 threads: columns win by 2-5% on
	// 1024×768×3072 and 1024³, rows by 8% on the dW shape.
	wide := g.N >= 2*g.M || !g.transA
	splitM := threads > 1 && !(wide && nPanels >= 2*threads) && mPanels >= 4*threads
	if !splitM {
		g.columns(ge, threads)
		return
	}
	ncb := min(nc, roundUp(ncPerThread*threads, ge.nr))
	bsize := bstep(ge.nr) * (min(ncb, roundUp(g.N, ge.nr)) / ge.nr)
	bp := getBuf(2 * bsize)
	defer putBuf(bp)
	r := &blockedRun{g: *g, ge: ge, threads: threads, mPanels: mPanels, nc: ncb, bsize: bsize, bpack: *bp, bar: newBarrier(threads)}
	Run(threads, r.work)
}

// blockedRun is the state of one row-split product shared by its goroutines.
type blockedRun struct {
	g       gemm
	ge      *geom
	threads int
	mPanels int
	nc      int       // columns per block
	bsize   int       // floats per packed B buffer
	bpack   []float32 // two buffers of bsize
	bar     *barrier
}

// work is goroutine t's part of a row-split product. Every goroutine walks
// all (jc, pc) blocks and packs its share of each block's B panels, waits
// at the barrier until the whole block is packed, then computes its rows
// against all of it. Two B buffers alternate, so one barrier per block is
// enough: a goroutine packing block i+1 has passed barrier i, which every
// goroutine reaches only after finishing block i-1.
func (r *blockedRun) work(t int) {
	g, ge, threads := &r.g, r.ge, r.threads
	mr, nr := ge.mr, ge.nr
	asize := ablock(mr)
	ap := getBuf(asize + maxMR*maxNR)
	defer putBuf(ap)
	apack, tile := (*ap)[:asize], (*ap)[asize:]
	block := 0
	for jc := 0; jc < g.N; jc += r.nc {
		ncur := min(r.nc, g.N-jc)
		nPanels := (ncur + nr - 1) / nr
		for pc := 0; pc < g.K; pc += kc {
			kcur, beta := g.slice(pc)
			b := block % 2
			bpack := r.bpack[b*r.bsize : (b+1)*r.bsize]
			block++
			g.packBFor(ge, bpack, pc, kcur, jc, ncur, t*nPanels/threads, (t+1)*nPanels/threads)
			r.bar.wait()
			r0, r1 := t*r.mPanels/threads*mr, min((t+1)*r.mPanels/threads*mr, g.M)
			g.macro(ge, apack, tile, bpack, pc, kcur, jc, ncur, r0, r1, 0, nPanels, true, beta)
		}
	}
}

// columns runs a column-split product: C is cut into column chunks of at
// most ncPerThread columns, a multiple of threads of them, and each
// goroutine takes the next free chunk and computes it alone, packing the
// chunk's B into a buffer of its own. With no barrier the goroutines drift
// apart, so one packs (bound by reading B from memory) while the other
// computes, and a goroutine slowed by other load simply takes fewer chunks.
//
// Every chunk needs all of op(A). When it fits in aShareFloats the
// goroutines share one packed copy (shareA): whoever first needs a block
// packs it for all, and a goroutine that finds a block being packed packs
// a copy of its own rather than wait, so sharing never adds a wait (a
// barrier per group of blocks, tried, lost 30% of the training step's
// speed at load 10 to descheduled partners; see docs/BENCHMARKS.md).
func (g *gemm) columns(ge *geom, threads int) {
	nr := ge.nr
	nPanels := (g.N + nr - 1) / nr
	per := (ncPerThread + nr - 1) / nr
	chunks := roundUp((nPanels+per-1)/per, threads)
	width := (nPanels + chunks - 1) / chunks * nr
	chunks = (g.N + width - 1) / width
	bsize := bstep(nr) * (width / nr)
	bp := getBuf(threads * bsize)
	defer putBuf(bp)
	if threads == 1 {
		// A separate variable from the threaded branch's keeps this one on
		// the stack: small products then run without allocating.
		c := columnRun{g: *g, ge: ge, width: width, chunks: chunks, bsize: bsize, bpack: *bp}
		c.work(0)
		return
	}
	c := &columnRun{g: *g, ge: ge, width: width, chunks: chunks, bsize: bsize, bpack: *bp}
	if chunks > 1 && !g.inPlaceA {
		if sp := c.shareA(threads); sp != nil {
			defer putBuf(sp)
		}
	}
	Run(threads, c.work)
}

// aShareFloats bounds op(A) packed for sharing (16 MiB): every block
// product of the transformer shapes fits; the lm head's backward (256 ×
// 50257 of dlogits) does not and packs per goroutine. A variable so
// BenchmarkSharedA can turn sharing off.
var aShareFloats = 1 << 22

// shareA sets r up to share packed op(A) between threads goroutines and
// returns the buffer, or nil when op(A) is too big. Rows go in units of
// at most mc, at least threads of them, so the goroutines can start on
// different units and pack different ones.
func (r *columnRun) shareA(threads int) *[]float32 {
	g, mr := &r.g, r.ge.mr
	mu := min(mc, roundUp((g.M+threads-1)/threads, mr))
	units := (g.M + mu - 1) / mu
	ublk := (mu + mr - 1) / mr * astep(mr, kc)
	slices := (g.K + kc - 1) / kc
	if slices*units*ublk > aShareFloats {
		return nil
	}
	sp := getBuf(slices * units * ublk)
	r.threads, r.mu, r.units, r.ublk = threads, mu, units, ublk
	r.shared, r.ready = *sp, make([]atomic.Int32, slices*units)
	return sp
}

// columnRun is the state of one column-split product.
type columnRun struct {
	g      gemm
	ge     *geom
	width  int // columns per chunk
	chunks int
	next   atomic.Int32 // the next chunk to take
	bsize  int          // floats per goroutine's packed B buffer
	bpack  []float32

	// shared, when set, is op(A) packed once (shareA): unit u (rows
	// [u*mu, u*mu+mu)) of K slice s at (s*units+u)*ublk, its state in
	// ready[s*units+u]: 0 not packed, 1 being packed, 2 packed.
	shared          []float32
	ready           []atomic.Int32
	threads         int
	mu, units, ublk int
}

func (r *columnRun) work(t int) {
	g, ge := &r.g, r.ge
	mr, nr := ge.mr, ge.nr
	asize := ablock(mr)
	// When op(A) is a single row block and a goroutine computes several
	// chunks (the lm head: 256 rows, 50257 columns), pack A once per K
	// slice and keep it for every chunk instead of repacking it each time.
	slices := 1
	keepA := g.M <= mc && r.chunks > 2 && r.shared == nil
	if keepA {
		slices = (g.K + kc - 1) / kc
	}
	ap := getBuf(slices*asize + maxMR*maxNR)
	defer putBuf(ap)
	apacks, tile := (*ap)[:slices*asize], (*ap)[slices*asize:]
	bpack := r.bpack[t*r.bsize : (t+1)*r.bsize]
	// Packing an untransposed B in a pass of its own stalls on memory: its
	// rows are far apart, so each row segment starts with cache misses.
	// Where the CPU has kernelPack, the first A panel of a block packs the
	// full B panels instead, computing while the rows arrive (the lm head
	// ran 4-11% faster).
	fuse := !g.transB && ge.kernelPack != nil && g.M >= mr && g.bh == nil
	packedA := false
	for {
		jc := int(r.next.Add(1)-1) * r.width
		if jc >= g.N {
			return
		}
		ncur := min(r.width, g.N-jc)
		nPanels := (ncur + nr - 1) / nr
		fused := 0 // B panels [0,fused) are left for kernelPack
		if fuse {
			fused = ncur / nr
		}
		for pc := 0; pc < g.K; pc += kc {
			kcur, beta := g.slice(pc)
			bp := bpack
			if g.pb != nil {
				bp = g.pb.block(pc, jc) // packed once (SgemmPackedBT)
			} else {
				g.packBFor(ge, bp, pc, kcur, jc, ncur, fused, nPanels)
			}
			if r.shared != nil {
				r.sharedRows(t, apacks[:asize], tile, bp, pc, kcur, jc, ncur, fused, nPanels, beta)
				continue
			}
			apack := apacks[:asize]
			if keepA {
				apack = apacks[pc/kc*asize : (pc/kc+1)*asize]
			}
			g.macro(ge, apack, tile, bp, pc, kcur, jc, ncur, 0, g.M, fused, nPanels, !packedA, beta)
		}
		packedA = keepA
	}
}

// sharedRows computes all rows of C against the packed B block at K slice
// pc, unit by unit, goroutine t starting at its own unit: a unit packed
// already is used as it is, one not packed yet is packed for everyone, and
// one another goroutine is packing is packed again into apack, this
// goroutine's own buffer. Every copy holds the same values, so the result
// does not depend on who packed what.
func (r *columnRun) sharedRows(t int, apack, tile, bpack []float32, pc, kcur, jc, ncur, fused, nPanels int, beta float32) {
	g, ge := &r.g, r.ge
	s, u0 := pc/kc, t*r.units/r.threads
	if fused > 0 && min(r.mu, g.M-u0*r.mu) < ge.mr {
		// kernelPack needs a full A panel: pack those B panels here.
		g.packBFor(ge, bpack, pc, kcur, jc, ncur, 0, fused)
		fused = 0
	}
	for i := range r.units {
		u := (u0 + i) % r.units
		ic, ic1 := u*r.mu, min((u+1)*r.mu, g.M)
		a, st := r.shared[(s*r.units+u)*r.ublk:][:r.ublk], &r.ready[s*r.units+u]
		own := false
		if st.Load() != 2 {
			if st.CompareAndSwap(0, 1) {
				g.packAFor(ge, a, ic, ic1-ic, pc, kcur)
				st.Store(2)
			} else if st.Load() != 2 {
				a, own = apack, true
			}
		}
		g.macro(ge, a, tile, bpack, pc, kcur, jc, ncur, ic, ic1, fused, nPanels, own, beta)
		fused = 0
	}
}

// tilesPacking computes rows [ic,ic+mcur) of C against B panels [0,n) of
// the block, which it packs from an untransposed B as it goes: the first A
// panel's kernel reads each B panel from B itself and writes it to bpack
// for the other A panels.
func (g *gemm) tilesPacking(ge *geom, apack, tile, bpack []float32, pc, kcur, jc, ncur, ic, mcur, n int, beta float32) {
	mr, nr := ge.mr, ge.nr
	for jp := 0; jp < n; jp++ {
		j0 := jc + jp*nr
		bpanel := bpack[jp*bstep(nr) : jp*bstep(nr)+nr*kcur]
		ge.kernelPack(kcur, apack, bpanel, g.C[ic*g.ldc+j0:], g.ldc, beta, g.B[pc*g.ldb+j0:], g.ldb)
		g.tiles(ge, apack[astep(mr, kcur):], tile, bpack, pc, kcur, jc, ncur, ic+mr, mcur-mr, jp, jp+1, beta)
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
	defer since(&stats.barrierNs, statStart())
	gen := b.gen.Load()
	if b.count.Add(1) == b.n {
		b.count.Store(0)
		b.mu.Lock()
		b.gen.Add(1)
		b.mu.Unlock()
		b.cond.Broadcast()
		return
	}
	if spin(func() bool { return b.gen.Load() != gen }, spinFor) {
		return
	}
	b.mu.Lock()
	for b.gen.Load() == gen {
		b.cond.Wait()
	}
	b.mu.Unlock()
}

// slice returns the depth of the K slice starting at pc and the beta its
// products use: later slices accumulate onto the first.
func (g *gemm) slice(pc int) (kcur int, beta float32) {
	if pc > 0 {
		return min(kc, g.K-pc), 1
	}
	return min(kc, g.K), g.beta
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// macro computes rows [r0,r1) of C against the nPanels B panels of the
// block, packing each mc-row block of A into apack first unless packA is
// false (a single row block kept from an earlier chunk). Panels [0,fused)
// are not packed yet: the first A panel's kernel packs them.
func (g *gemm) macro(ge *geom, apack, tile, bpack []float32, pc, kcur, jc, ncur, r0, r1, fused, nPanels int, packA bool, beta float32) {
	for ic := r0; ic < r1; ic += mc {
		mcur := min(mc, r1-ic)
		switch {
		case !packA:
		case !g.inPlaceA:
			g.packAFor(ge, apack, ic, mcur, pc, kcur)
		default:
			// Only what the kernels cannot read in place: the first
			// panel for kernelPack and a last panel of fewer than mr rows.
			if ic == r0 && fused > 0 {
				g.packAFor(ge, apack, ic, ge.mr, pc, kcur)
			}
			if full := mcur / ge.mr * ge.mr; full < mcur {
				g.packAFor(ge, apack[full/ge.mr*astep(ge.mr, kcur):], ic+full, mcur-full, pc, kcur)
			}
		}
		p0 := 0
		if ic == r0 && fused > 0 {
			g.tilesPacking(ge, apack, tile, bpack, pc, kcur, jc, ncur, ic, mcur, fused, beta)
			p0 = fused
		}
		g.tiles(ge, apack, tile, bpack, pc, kcur, jc, ncur, ic, mcur, p0, nPanels, beta)
	}
}

// tiles computes rows [ic,ic+mcur) of C, packed in apack, against B panels
// [p0,p1) of the packed block.
func (g *gemm) tiles(ge *geom, apack, tile, bpack []float32, pc, kcur, jc, ncur, ic, mcur, p0, p1 int, beta float32) {
	mr, nr, kernel := ge.mr, ge.nr, ge.kernel
	for jp := p0; jp < p1; jp++ {
		j0 := jc + jp*nr
		nrc := min(nr, jc+ncur-j0)
		bpanel := bpack[jp*bstep(nr) : jp*bstep(nr)+nr*kcur]
		var next []float32 // prepacked: the next panel, read ahead (readAhead)
		if g.pb != nil && jp+1 < p1 {
			next = bpack[(jp+1)*bstep(nr) : (jp+1)*bstep(nr)+nr*kcur]
		}
		for ip := 0; ip*mr < mcur; ip++ {
			if next != nil {
				readAhead(next, ip, (mcur+mr-1)/mr)
			}
			i0 := ic + ip*mr
			mrc := min(mr, ic+mcur-i0)
			if mrc == mr && g.inPlaceA {
				a := g.A[i0*g.lda+pc:]
				if nrc == nr {
					ge.kernelA(kcur, a, g.lda, bpanel, g.C[i0*g.ldc+j0:], g.ldc, beta)
					continue
				}
				ge.kernelA(kcur, a, g.lda, bpanel, tile, nr, 0)
				g.mergeTile(tile, i0, j0, mrc, nrc, nr, beta)
				continue
			}
			apanel := apack[ip*astep(mr, kcur) : ip*astep(mr, kcur)+mr*kcur]
			if mrc == mr && nrc == nr {
				kernel(kcur, apanel, bpanel, g.C[i0*g.ldc+j0:], g.ldc, beta)
				continue
			}
			// Edge tile: rows past M or columns past N. Whole groups of 4
			// rows go straight to C when kernel4 exists; the rest is
			// computed into scratch (packing padded the panels with zeros)
			// and its valid part merged.
			done, use4 := 0, nrc == nr && ge.kernel4 != nil
			if use4 {
				done = mrc &^ 3
				for i := 0; i < done; i += 4 {
					ge.kernel4(kcur, apanel[i:], mr, bpanel, g.C[(i0+i)*g.ldc+j0:], g.ldc, beta)
				}
				if done == mrc {
					continue
				}
			}
			scratch := tile
			if use4 && done+4 <= mr {
				ge.kernel4(kcur, apanel[done:], mr, bpanel, tile, nr, 0)
			} else {
				kernel(kcur, apanel, bpanel, tile, nr, 0)
				scratch = tile[done*nr:]
			}
			g.mergeTile(scratch, i0+done, j0, mrc-done, nrc, nr, beta)
		}
	}
}

// mergeTile writes the top-left rows×cols of an edge tile computed into
// scratch (row stride nr) to C at (i0, j0), adding beta times C.
func (g *gemm) mergeTile(scratch []float32, i0, j0, rows, cols, nr int, beta float32) {
	for i := range rows {
		c := g.C[(i0+i)*g.ldc+j0 : (i0+i)*g.ldc+j0+cols]
		t := scratch[i*nr : i*nr+cols]
		if beta == 0 {
			copy(c, t)
			continue
		}
		for j := range c {
			c[j] = t[j] + beta*c[j]
		}
	}
}

// packA writes rows [i0,i0+mcur) and columns [pc,pc+kcur) of alpha*op(A)
// as mr-row panels: panel ip holds element (ip*mr+i, p) at ip*astep(mr, kcur) +
// p*mr + i. Rows past M are zero.
func (g *gemm) packA(mr int, dst []float32, i0, mcur, pc, kcur int) {
	alpha := g.alpha
	if g.transA {
		g.packAT(mr, dst, i0, mcur, pc, kcur)
		return
	}
	for ip := 0; ip*mr < mcur; ip++ {
		panel := dst[ip*astep(mr, kcur) : ip*astep(mr, kcur)+mr*kcur]
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
	full := mcur / mr       // panels with all mr rows
	step := astep(mr, kcur) // between panels
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
// jp*bstep(nr) + p*nr + j. Columns past the block are zero. Panels sit
// bstep(nr) apart whatever kcur is, so a goroutine packing a shallower block
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
				done = packRow(dst[p0*bstep(nr)+p*nr:], row[j0:j0+full*nr], full, nr, bstep(nr), g.ldb)
			}
			for jp := p0 + done; jp < p1; jp++ {
				j0 := jc + jp*nr
				cols := min(nr, jc+ncur-j0)
				d := dst[jp*bstep(nr)+p*nr : jp*bstep(nr)+p*nr+nr]
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
		panel := dst[jp*bstep(nr) : jp*bstep(nr)+nr*kcur]
		j0 := jc + jp*nr
		transposeInto(panel, g.B[j0*g.ldb+pc:], g.ldb, min(nr, jc+ncur-j0), kcur, nr)
	}
}

// gemv handles M <= gemvRows: each row of C is a matrix-vector product,
// bound by streaming B once, so it runs straight from B with the vector
// kernels, split over column ranges of C.
func (g *gemm) gemv(threads int) {
	M, N, K := g.M, g.N, g.K
	// a holds alpha*op(A) as M rows lda apart: A itself when that is
	// already what it holds (a decode step's rows; copying them cost as
	// much as a small product), else a contiguous copy.
	a, lda := g.A, g.lda
	if g.transA || g.alpha != 1 {
		ap := getBuf(M * K)
		defer putBuf(ap)
		a, lda = *ap, K
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
	}
	if threads == 1 {
		g.gemvCols(a, lda, 0, N)
		g.then = nil // done (SgemmThen)
		return
	}
	gc := *g // a copy, so that only the threaded call allocates
	g.then = nil
	splitCols(N, threads, splitMinCols(K, 4), func(lo, hi int) { gc.gemvCols(a, lda, lo, hi) })
}

// gemvCols is gemvRange followed by the SgemmThen epilogue of the range.
func (g *gemm) gemvCols(a []float32, lda, lo, hi int) {
	g.gemvRange(a, lda, lo, hi)
	if g.then != nil {
		g.then(lo, hi)
	}
}

// gemvRange computes columns [lo,hi) of C for gemv; a holds alpha*op(A)
// as M rows of K, lda apart.
func (g *gemm) gemvRange(a []float32, lda, lo, hi int) {
	M, K := g.M, g.K
	if g.transB {
		g.rowDots(a, lda, lo, hi)
		return
	}
	// Column chunks keep the M rows of C being accumulated in L1.
	const chunk = 1024
	for j0 := lo; j0 < hi; j0 += chunk {
		j1 := min(j0+chunk, hi)
		g.scaleCols(j0, j1)
		for p := 0; p < K; p++ {
			b := g.B[p*g.ldb+j0 : p*g.ldb+j1]
			for i := 0; i < M; i++ {
				if av := a[i*lda+p]; av != 0 {
					axpy(av, b, g.C[i*g.ldc+j0:i*g.ldc+j1])
				}
			}
		}
	}
}

// bstep is the distance between packed B panels: a panel's kc*nr floats
// and one cache line more. At exactly kc*nr (32 KiB at kc 256) apart, the
// panels' rows fell in the same L1 set, so packing, which writes one row of every
// panel in turn, kept evicting its own lines (the lm head packed 15-20%
// faster with the pad).
func bstep(nr int) int { return nr*kc + 16 }

// astep is the distance between packed A panels of depth kcur, padded by
// a cache line for the same reason: 12-row panels 256 deep sit 12 KiB
// apart, again one L1 set, and packing a transposed A writes one run to
// every panel in turn (dW = dyᵀ·x spent 25% less time packing A with the
// pad, about 1.5% of the product).
func astep(mr, kcur int) int { return mr*kcur + 16 }

// ablock is the size of a packed block of A: mc rows, kc deep.
func ablock(mr int) int { return (mc + mr - 1) / mr * astep(mr, kc) }
