package kernels

import (
	"math"
	"unsafe"

	"github.com/golora/golora/tensor"
)

// The AMX path of GemmHalf for a BF16 B (Sapphire Rapids and later).
// TDPBF16PS multiplies a 16-row tile of A (32 bf16 per row) by a tile of B
// stored as 16 rows of 16 bf16 pairs (two consecutive depths of a column
// side by side) into 16x16 float32 accumulators: 8192 multiply-adds per
// instruction, with the same products as the other paths (A rounded to
// bf16, each product exact, float32 sums) in another summation order.
// amxBF16Tile computes a 32x32 block of C from two A tiles and two B
// tiles per 32-deep step.
//
// The forward product x·Wᵀ is computed transposed, as W·xᵀ: a row of W
// holds consecutive depths, which is the A-tile layout, so the weight is
// read in place with no packing at all (the x·Wᵀ orientation would need W
// transposed into pairs on every call), and only the activations are
// packed into pairs. The 32x32 result block is transposed into C. The
// backward product dy·W reads W in place too (amxBackward), so neither
// product needs a packed copy of the weight: it stays the checkpoint's
// (memory-mapped) bytes.

const amxDepth = 32 // bf16 values per A tile row: the depth of one step

// amxBlocks is the loop of an AMX kernel call: n blocks, the operands
// advancing by ainc, binc and cinc elements from one to the next.
type amxBlocks struct{ n, ainc, binc, cinc int }

// fits reports whether n blocks of need elements, inc apart, fit in size.
func (r amxBlocks) fits(size, need, inc int) bool {
	return r.n >= 1 && inc >= 0 && (r.n-1)*inc+need <= size
}

// u16 views a float32 packing buffer as bf16 storage.
func u16(f []float32) []uint16 { return unsafe.Slice((*uint16)(unsafe.Pointer(&f[0])), 2*len(f)) }

// amx runs the product on AMX tiles.
func (g *gemm) amx(threads int) {
	if g.beta != 0 && g.beta != 1 {
		g.scaleC()
		g.beta = 1
	}
	if g.transB {
		g.amxForward(threads)
	} else {
		g.amxBackward(threads)
	}
}

// amxForward computes C = A·Bᵀ + beta*C with B (N×K) read in place as the A
// operand of the tiles, 32 rows of B against 32 rows of A per block, or,
// for at most 16 rows of A (decode), against one 16-column operand, 8 blocks
// of B's rows per kernel call (amxGroup).
func (g *gemm) amxForward(threads int) {
	M, N, K := g.M, g.N, g.K
	kp := roundUp(K, amxDepth)
	mPanels := (M + 31) / 32
	xp := getBuf(mPanels * 16 * kp)
	defer putBuf(xp)
	xs := u16(*xp)
	// Each 32-row panel of A as two 16-column B operands (pairs of depths),
	// one when there are at most 16 rows (narrow).
	narrow := M <= 16
	halves := 2
	if narrow {
		halves = 1
	}
	For(mPanels, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			for h := 0; h < halves; h++ {
				m0 := 32*p + 16*h
				packPairRows(xs[(2*p+h)*16*kp:(2*p+h+1)*16*kp], g.A[min(m0, M-1)*g.lda:], g.lda, max(0, min(16, M-m0)), K)
			}
		}
	})
	jBlocks := (N + 31) / 32
	direct := K%amxDepth == 0
	work := func(t int) {
		bp := getBuf(max(mPanels, amxGroup)*32*32 + 16*kp)
		defer putBuf(bp)
		scratch, wpad := (*bp)[:max(mPanels, amxGroup)*32*32], u16((*bp)[max(mPanels, amxGroup)*32*32:])
		for jb, hi := t*jBlocks/threads, (t+1)*jBlocks/threads; jb < hi; {
			j0 := 32 * jb
			a, lda := g.bh[j0*g.ldb:], g.ldb
			n := 1 // blocks of B's rows in this call
			if full := (N - j0) / 32; direct && full > 0 {
				n = min(hi-jb, full, amxGroup)
			} else {
				// Rows past N or a depth past K would read outside B (or
				// other values, possibly not finite): copy, zero-padded.
				clear(wpad)
				for j := 0; j < min(32, N-j0); j++ {
					copy(wpad[j*kp:j*kp+K], g.bh[(j0+j)*g.ldb:])
				}
				a, lda = wpad, kp
			}
			if narrow {
				amxTile16(a, lda, xs, scratch, 32, kp/amxDepth, amxBlocks{n, 32 * lda, 0, 32 * 32})
				for b := range n {
					transposeBlock(g.C[j0+32*b:], g.ldc, scratch[b*32*32:], M, min(32, N-j0-32*b), g.beta != 0)
				}
				jb += n
				continue
			}
			amxTile(a, lda, xs, 16*kp, scratch, 32, kp/amxDepth, false, amxBlocks{mPanels, 0, 32 * kp, 32 * 32})
			// Block p of scratch is C's rows 32p.. and columns j0.., transposed.
			for p := 0; p < mPanels; p++ {
				transposeBlock(g.C[32*p*g.ldc+j0:], g.ldc, scratch[p*32*32:], min(32, M-32*p), min(32, N-j0), g.beta != 0)
			}
			jb++
		}
	}
	threads = max(1, min(threads, jBlocks))
	Run(threads, work)
}

// amxGroup is the number of 32-row blocks of B one narrow forward kernel
// call covers: loading the tile configuration costs about as much as 8
// TDPBF16PS, and a decode does only 2 per 32-deep step of a block.
const amxGroup = 8

// amxBackward works on chunks of at most amxChunk rows of B (depths) and
// blocks of amxRows rows of A: a chunk's B tiles (amxChunk·N bf16: 384 KiB
// for N = 768) and A's block (128 KiB) stay in L2 while every 32-column
// block of B meets every 32-row block of A.
const amxChunk, amxRows = 256, 256

// amxBackward computes C = A·B + beta*C with B (K×N, row-major: a frozen
// weight's rows are depths here) on the 32x32 pair kernel. TDPBF16PS pairs
// two depths of one column of B, so each chunk of B's rows is interleaved
// in pairs (pairRowsBF16, two rows at a time, read sequentially) into a
// buffer, and A's rows are only rounded to bf16. (An earlier kernel read B
// in place and paired A's values with zeros instead: half of every
// TDPBF16PS was wasted, and a 64-row dx ran at half the forward's speed.)
//
// Goroutines split the depth K into equal shares, in chunks: each packs its
// chunks and sums their products into an accumulator of its own, and the
// accumulators are added into C at the end. So the extra memory is about
// M·N + 128·(M + N) floats per goroutine whatever K is (the lm head's dx
// has K = 50257), not A's whole bf16 form.
func (g *gemm) amxBackward(threads int) {
	M, N, K := g.M, g.N, g.K
	mp, np := roundUp(M, 32), roundUp(N, 32)
	// An equal share of the depth per goroutine (at least 64), in chunks.
	threads = max(1, min(threads, K/64))
	const chunk = amxChunk
	// A block's halves (chunk/2 rows of 16 pairs), 64 bytes apart more
	// than their size (packPairBlocks).
	half := chunk*16 + 32
	accs := make([]*[]float32, threads)
	work := func(t int) {
		bp := getBuf(mp*np + mp*chunk/2 + np/32*half)
		accs[t] = bp
		acc := (*bp)[:mp*np]
		as, bs := u16((*bp)[mp*np:mp*np+mp*chunk/2]), u16((*bp)[mp*np+mp*chunk/2:])
		lo, hi := t*K/threads, (t+1)*K/threads
		for k0 := lo; k0 < hi; k0 += chunk {
			rows := min(chunk, hi-k0)
			kd := roundUp(rows, amxDepth)
			for m := 0; m < mp; m++ {
				row := as[m*chunk : m*chunk+kd]
				if m >= M {
					clear(row)
					continue
				}
				narrowBF16(row, g.A[m*g.lda+k0:m*g.lda+k0+rows])
				clear(row[rows:])
			}
			packPairBlocks(bs, g.bh[k0*g.ldb:], g.ldb, rows, N, half)
			load := k0 != lo
			for i0 := 0; i0 < mp; i0 += amxRows {
				blocks := min(amxRows, mp-i0) / 32
				for jb := 0; jb < np/32; jb++ {
					amxTile(as[i0*chunk:], chunk, bs[2*jb*half:], half, acc[i0*np+jb*32:], np, kd/amxDepth, load, amxBlocks{blocks, 32 * chunk, 0, 32 * np})
				}
			}
		}
	}
	Run(threads, work)
	For(M, 16, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			c := g.C[m*g.ldc : m*g.ldc+N]
			for i, p := range accs {
				a := (*p)[m*np : m*np+N]
				if i == 0 && g.beta == 0 {
					copy(c, a)
				} else {
					axpy(1, a, c)
				}
			}
		}
	})
	for _, p := range accs {
		putBuf(p)
	}
}

// packPairBlocks writes the first rows rows of src (N bf16 values each,
// stride ld) as B tiles of amxTile, a block of 32 columns at a time: block
// jb at dst[2*jb*half:] holds two 16-column halves half apart, each
// roundUp(rows, 32)/2 rows of 16 pairs (row q, column j: src[2q][j],
// src[2q+1][j]). Rows past rows and columns past N are zero. It writes a
// row of every half per pair of src's rows, so src is read sequentially;
// half should not be a multiple of 2 KiB, or all those rows would land in
// one set of the L1 cache (a stride of 8 KiB ran 8x slower).
func packPairBlocks(dst, src []uint16, ld, rows, N, half int) {
	full, blocks := N/32, (N+31)/32
	for q := 0; q < roundUp(rows, amxDepth)/2; q++ {
		var r0, r1 []uint16
		if 2*q < rows {
			r0 = src[2*q*ld : 2*q*ld+N]
		}
		if 2*q+1 < rows {
			r1 = src[(2*q+1)*ld : (2*q+1)*ld+N]
		}
		d := dst[q*32:]
		jb := 0
		if r1 != nil {
			jb = pairRows(d, half, 2*half, r0, r1, full)
		}
		for ; jb < blocks; jb++ {
			pairWords(d[2*jb*half:], d[(2*jb+1)*half:], r0, r1, jb*32, min(32, N-jb*32))
		}
	}
}

// pairWords writes one row of the two halves of a block: lo[2j], lo[2j+1]
// = r0[j0+j], r1[j0+j] for j < 16 and hi likewise for 16 <= j < 32, zero
// for j >= cols and for a nil row.
func pairWords(lo, hi, r0, r1 []uint16, j0, cols int) {
	for j := range 32 {
		d := lo[2*j:]
		if j >= 16 {
			d = hi[2*(j-16):]
		}
		d[0], d[1] = 0, 0
		if j < cols && r0 != nil {
			d[0] = r0[j0+j]
		}
		if j < cols && r1 != nil {
			d[1] = r1[j0+j]
		}
	}
}

// transposeBlockGeneric is the portable transposeBlock.
func transposeBlockGeneric(c []float32, ldc int, t []float32, m, cols int, add bool) {
	for i := range m {
		row := c[i*ldc : i*ldc+cols]
		for j := range row {
			if add {
				row[j] += t[j*32+i]
			} else {
				row[j] = t[j*32+i]
			}
		}
	}
}

// narrowBF16Generic is the portable narrowBF16.
func narrowBF16Generic(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = tensor.F32ToBF16(v)
	}
}

// packPairRows writes n rows of src (stride ld, k values each, rounded to
// bf16) as the 16 columns of a B operand: dst[q*32+2i+e] = src[i][2q+e].
// Columns n..15 and depths past k are zero; len(dst)/32 pairs deep. A row
// is rounded into a buffer at once (narrowBF16) and its pairs then moved
// as 32-bit words.
func packPairRows(dst []uint16, src []float32, ld, n, k int) {
	clear(dst)
	kw := (k + 1) / 2
	tp := getBuf(kw)
	defer putBuf(tp)
	tmp := *tp
	t16, d32 := u16(tmp), unsafe.Slice((*uint32)(unsafe.Pointer(&dst[0])), len(dst)/2)
	for i := 0; i < n; i++ {
		if k%2 == 1 {
			t16[k] = 0 // an odd depth's last pair ends in zero
		}
		narrowBF16(t16, src[i*ld:i*ld+k])
		for q, w := range tmp {
			d32[q*16+i] = math.Float32bits(w)
		}
	}
}
