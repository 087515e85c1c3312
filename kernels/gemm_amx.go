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
// backward product dy·W needs W as B, pairs of its consecutive rows:
// each goroutine interleaves the 32-column panels it computes, once per
// call, for all M rows.

const amxDepth = 32 // bf16 values per A tile row: the depth of one step

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
		bp := getBuf(32*32 + 16*kp)
		defer putBuf(bp)
		scratch, wpad := (*bp)[:32*32], u16((*bp)[32*32:])
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
			for p := 0; p < mPanels; p++ {
				amxTile(a, lda, xs[2*p*16*kp:], 16*kp, scratch, 32, kp/amxDepth, false)
				m0 := 32 * p
				for m := m0; m < min(m0+32, M); m++ {
					c := g.C[m*g.ldc+j0 : m*g.ldc+j0+rows]
					for j := range c {
						if g.beta == 0 {
							c[j] = scratch[j*32+m-m0]
						} else {
							c[j] += scratch[j*32+m-m0]
						}
					}
				}
			}
		}
	}
	threads = max(1, min(threads, jBlocks))
	Run(threads, work)
}

// amxBackward computes C = A·B + beta*C with B (K×N) interleaved into
// pairs of rows, 32 columns at a time, each panel computed for all rows of
// A.
func (g *gemm) amxBackward(threads int) {
	M, N, K := g.M, g.N, g.K
	kp := roundUp(K, amxDepth)
	mp := roundUp(M, 32)
	ap := getBuf(mp * kp / 2)
	defer putBuf(ap)
	as := u16(*ap)
	For(mp, 8, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			row := as[m*kp : (m+1)*kp]
			clear(row[K:])
			if m >= M {
				clear(row)
				continue
			}
			for k, v := range g.A[m*g.lda : m*g.lda+K] {
				row[k] = tensor.F32ToBF16(v)
			}
		}
	})
	nPanels := (N + 31) / 32
	work := func(t int) {
		bp := getBuf(32*32 + 16*kp)
		defer putBuf(bp)
		scratch, bs := (*bp)[:32*32], u16((*bp)[32*32:])
		for jp := t * nPanels / threads; jp < (t+1)*nPanels/threads; jp++ {
			j0 := 32 * jp
			cols := min(32, N-j0)
			for h := 0; h < 2; h++ {
				packPairCols(bs[h*16*kp:(h+1)*16*kp], g.bh[min(j0+16*h, N-1):], g.ldb, max(0, min(16, cols-16*h)), K)
			}
			for m0 := 0; m0 < M; m0 += 32 {
				if m0+32 <= M && cols == 32 {
					amxTile(as[m0*kp:], kp, bs, 16*kp, g.C[m0*g.ldc+j0:], g.ldc, kp/amxDepth, g.beta == 1)
					continue
				}
				amxTile(as[m0*kp:], kp, bs, 16*kp, scratch, 32, kp/amxDepth, false)
				for m := m0; m < min(m0+32, M); m++ {
					c := g.C[m*g.ldc+j0 : m*g.ldc+j0+cols]
					s := scratch[(m-m0)*32 : (m-m0)*32+cols]
					if g.beta == 0 {
						copy(c, s)
						continue
					}
					for j := range c {
						c[j] += s[j]
					}
				}
			}
		}
	}
	threads = max(1, min(threads, nPanels))
	Run(threads, work)
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

// packPairCols writes n columns of src (k rows, stride ld) as the 16
// columns of a B operand: dst[q*32+2j+e] = src[2q+e][j]. Columns n..15 and
// depths past k are zero.
func packPairCols(dst []uint16, src []uint16, ld, n, k int) {
	clear(dst)
	for p := 0; p < k; p++ {
		d := dst[p/2*32+p&1:]
		for j, v := range src[p*ld : p*ld+n] {
			d[2*j] = v
		}
	}
}
