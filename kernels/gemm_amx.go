package kernels

import (
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
// operand of the tiles, 32 rows of B against 32 rows of A per block.
func (g *gemm) amxForward(threads int) {
	M, N, K := g.M, g.N, g.K
	kp := roundUp(K, amxDepth)
	mPanels := (M + 31) / 32
	xp := getBuf(mPanels * 16 * kp)
	defer putBuf(xp)
	xs := u16(*xp)
	// Each 32-row panel of A as two 16-column B operands (pairs of depths).
	For(mPanels, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			for h := 0; h < 2; h++ {
				m0 := 32*p + 16*h
				packPairRows(xs[(2*p+h)*16*kp:(2*p+h+1)*16*kp], g.A[min(m0, M-1)*g.lda:], g.lda, max(0, min(16, M-m0)), K)
			}
		}
	})
	jBlocks := (N + 31) / 32
	direct := K%amxDepth == 0
	work := func(t int) {
		bp := getBuf(mPanels*32*32 + 16*kp)
		defer putBuf(bp)
		scratch, wpad := (*bp)[:mPanels*32*32], u16((*bp)[mPanels*32*32:])
		for jb := t * jBlocks / threads; jb < (t+1)*jBlocks/threads; jb++ {
			j0 := 32 * jb
			rows := min(32, N-j0)
			a, lda := g.bh[j0*g.ldb:], g.ldb
			if rows < 32 || !direct {
				// Rows past N or a depth past K would read outside B (or
				// other values, possibly not finite): copy, zero-padded.
				clear(wpad)
				for j := 0; j < rows; j++ {
					copy(wpad[j*kp:j*kp+K], g.bh[(j0+j)*g.ldb:])
				}
				a, lda = wpad, kp
			}
			amxTile(a, lda, xs, 16*kp, scratch, 32, kp/amxDepth, amxBlocks{mPanels, 0, 32 * kp, 32 * 32})
			// Block p of scratch is C's rows 32p.. and columns j0.., transposed.
			for m := 0; m < M; m++ {
				c := g.C[m*g.ldc+j0 : m*g.ldc+j0+rows]
				t := scratch[m/32*32*32+m%32:]
				for j := range c {
					if g.beta == 0 {
						c[j] = t[j*32]
					} else {
						c[j] += t[j*32]
					}
				}
			}
		}
	}
	threads = max(1, min(threads, jBlocks))
	Run(threads, work)
}

// amxBackward works on chunks of at most amxChunk rows of B and blocks of
// amxRows rows of A: a 64-column strip of B's chunk (32 KiB) stays in L1
// while the row blocks of A's block use it, and A's block (512 KiB: A
// enters as pairs with zeros, 8 bytes a value) in L2 while every strip
// does.
const amxChunk, amxRows = 256, 256

// amxBackward computes C = A·B + beta*C with B (K×N) read in place as B
// tiles of 16 rows by 32 columns. Their pairs are two columns of one row
// of B, not the two rows of one column that TDPBF16PS pairs, so A enters
// twice: as (a, 0) pairs, which give the even columns, and as (0, a)
// pairs for the odd ones. That halves the tiles' useful work, still 4x the
// float32 kernel's multiply-adds per cycle, and saves interleaving B's
// rows on every call, which took half of a training step (the lm head's
// dx reads a 50257-row weight). A B value that is infinite or NaN spreads
// NaN to its even neighbour (0·Inf); weights are finite.
//
// Goroutines split the depth K into chunks: each packs A's columns for its
// chunks and sums their products into an accumulator of its own (tiles of
// even and odd columns), and the accumulators are added into C at the
// end. So the extra memory is M·(N + 256) floats per goroutine whatever K
// is (the lm head's dx has K = 50257), not A's whole pair form.
func (g *gemm) amxBackward(threads int) {
	M, N, K := g.M, g.N, g.K
	mp, np := roundUp(M, 16), roundUp(N, 64)
	// Chunks small enough for every goroutine to get two, at least 64 deep.
	chunk := min(amxChunk, max(64, roundUp((K+2*threads-1)/(2*threads), 16)))
	chunks := (K + chunk - 1) / chunk
	threads = max(1, min(threads, chunks))
	lda := chunk * 4 // a row of A's pairs for one chunk
	accs := make([]*[]float32, threads)
	work := func(t int) {
		bp := getBuf(mp*np + mp*lda/2 + chunk*32)
		accs[t] = bp
		acc, as, pad := (*bp)[:mp*np], u16((*bp)[mp*np:mp*np+mp*lda/2]), u16((*bp)[mp*np+mp*lda/2:])
		for c := t * chunks / threads; c < (t+1)*chunks/threads; c++ {
			k0 := c * chunk
			rows := min(chunk, K-k0)
			st := (rows + 15) / 16
			for m := 0; m < mp; m++ {
				row := as[m*lda : (m+1)*lda]
				clear(row)
				if m >= M {
					continue
				}
				for k, v := range g.A[m*g.lda+k0 : m*g.lda+k0+rows] {
					h, d := tensor.F32ToBF16(v), k/16*64+2*(k%16)
					row[d] = h    // (a, 0)
					row[d+33] = h // (0, a)
				}
			}
			first := c == t*chunks/threads
			for i0 := 0; i0 < mp; i0 += amxRows {
				blocks := min(amxRows, mp-i0) / 16
				for j0 := 0; j0 < N; j0 += 64 {
					cols := min(64, N-j0)
					b, ldb := g.bh[k0*g.ldb+j0:], g.ldb
					if cols < 64 || rows%16 != 0 {
						// Columns past N or rows past K would read outside B.
						clear(pad)
						for k := 0; k < rows; k++ {
							copy(pad[k*64:k*64+cols], g.bh[(k0+k)*g.ldb+j0:])
						}
						b, ldb = pad, 64
					}
					amxSplitTile(as[i0*lda:], lda, b, ldb, acc[j0*mp+i0*64:], 64, st, !first, amxBlocks{blocks, 16 * lda, 0, 16 * 64})
				}
			}
		}
	}
	Run(threads, work)
	// Row m of a panel's accumulator holds tiles of the even and odd
	// columns of [0,32), then of [32,64).
	For(M, 16, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			for j0 := 0; j0 < N; j0 += 64 {
				c := g.C[m*g.ldc+j0 : m*g.ldc+j0+min(64, N-j0)]
				if g.beta == 0 {
					clear(c)
				}
				for _, p := range accs {
					a := (*p)[j0*mp+m*64 : j0*mp+m*64+64]
					for j := range c {
						c[j] += a[(j/32*2+j&1)*16+j%32/2]
					}
				}
			}
		}
	})
	for _, p := range accs {
		putBuf(p)
	}
}

// packPairRows writes n rows of src (stride ld, k values each, rounded to
// bf16) as the 16 columns of a B operand: dst[q*32+2i+e] = src[i][2q+e].
// Columns n..15 and depths past k are zero; len(dst)/32 pairs deep.
func packPairRows(dst []uint16, src []float32, ld, n, k int) {
	clear(dst)
	for i := 0; i < n; i++ {
		for p, v := range src[i*ld : i*ld+k] {
			dst[p/2*32+2*i+p&1] = tensor.F32ToBF16(v)
		}
	}
}
