package lora

import (
	"github.com/golora/golora/kernels"
)

// The rank-r products of LoRA are GEMMs with one dimension r (8 or 16): a
// general GEMM would pack the big operand (x, dy) into panels, a full copy
// that costs more than the arithmetic. These loops stream each big operand
// once, row by row, with the small factors (r × in, r × out) staying in
// cache, and split the rows over kernels.Threads() goroutines.

// minParallel is the number of streamed values below which one goroutine
// is faster than starting more.
const minParallel = 1 << 16

// splitRows runs f over [0, n) in contiguous chunks, one per worker, giving
// each its index.
func splitRows(n, work int, f func(w, lo, hi int)) int {
	nw := min(kernels.Threads(), n)
	if work < minParallel || nw <= 1 {
		f(0, 0, n)
		return 1
	}
	kernels.Run(nw, func(w int) { f(w, w*n/nw, (w+1)*n/nw) })
	return nw
}

// rowsDot computes t[i,k] = alpha·dot(x_i, m_k) for x (n, w), m (r, w):
// t = alpha·x·mᵀ (n, r).
func rowsDot(t []float32, alpha float32, x, m []float32, n, r, w int) {
	splitRows(n, n*w, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			dotRow(t[i*r:(i+1)*r], alpha, x[i*w:(i+1)*w], m[:r*w])
		}
	})
}

// dotRow sets t[k] = alpha·dot(x, m_k), with the bits of one Dot call each.
func dotRow(t []float32, alpha float32, x, m []float32) {
	kernels.DotN(t, x, m)
	if alpha != 1 {
		for k := range t {
			t[k] *= alpha
		}
	}
}

// rowsAxpy computes y_i += alpha·Σ_k t[i,k]·m_k for t (n, r), m (r, w):
// y += alpha·t·m (n, w).
func rowsAxpy(y []float32, alpha float32, t, m []float32, n, r, w int) {
	splitRows(n, n*w, func(_, lo, hi int) {
		p := make([]float32, r)
		for i := lo; i < hi; i++ {
			axpyRow(y[i*w:(i+1)*w], p, alpha, t[i*r:(i+1)*r], m, w)
		}
	})
}

// axpyRow adds alpha·Σ_k t[k]·m_k to y, with the bits of one Axpy call per
// k in turn (a decode row gets what kernels.LoRARows gives it); p is
// len(t) of scratch.
func axpyRow(y, p []float32, alpha float32, t, m []float32, w int) {
	for k, v := range t {
		p[k] = alpha * v
	}
	kernels.AxpyN(y, p, m, w)
}

// rowsDotAxpy is a LoRA forward's two products in one pass over the rows:
// t = x·aᵀ (n, r) for x (n, in), a (r, in), then y += s·t·bt (n, out) for
// bt (r, out): rowsDot and rowsAxpy with their bits, in one parallel
// region, each row's t used while it is in cache.
func rowsDotAxpy(t, x, a, y []float32, s float32, bt []float32, n, r, in, out int) {
	splitRows(n, n*(in+out), func(_, lo, hi int) {
		p := make([]float32, r)
		for i := lo; i < hi; i++ {
			ti := t[i*r : (i+1)*r]
			dotRow(ti, 1, x[i*in:(i+1)*in], a[:r*in])
			axpyRow(y[i*out:(i+1)*out], p, s, ti, bt, out)
		}
	})
}

// partials holds one (r, w) accumulator per worker.
type partials [][]float32

func (p *partials) get(nw, size int) [][]float32 {
	for len(*p) < nw {
		*p = append(*p, nil)
	}
	for w := 0; w < nw; w++ {
		(*p)[w] = grow((*p)[w], size)
		clear((*p)[w])
	}
	return (*p)[:nw]
}

// outerAcc computes g += alpha·tᵀ·z for t (n, r), z (n, w), g (r, w), and,
// when dt is not nil, fuses dt[i,k] = beta·dot(z_i, m_k) (m (r, w)) into
// the same pass over z.
func outerAcc(g []float32, alpha float32, t, z []float32, n, r, w int, dt []float32, beta float32, m []float32, scratch *partials) {
	nw := min(kernels.Threads(), n)
	if n*w < minParallel {
		nw = 1
	}
	acc := scratch.get(nw, r*w)
	// A block of rows goes into each gw_k in one AxpyN call, the slice of
	// gw_k in registers while the rows stream past (one load and store of
	// gw per block, not per row), each element's FMAs still in row order.
	const block = 16
	splitRows(n, n*w, func(wk, lo, hi int) {
		gw := acc[wk]
		var p [block]float32
		for i0 := lo; i0 < hi; i0 += block {
			b := min(block, hi-i0)
			zb := z[i0*w : (i0+b)*w]
			if dt != nil {
				for i := i0; i < i0+b; i++ {
					dotRow(dt[i*r:(i+1)*r], beta, z[i*w:(i+1)*w], m[:r*w])
				}
			}
			for k := 0; k < r; k++ {
				for i := range b {
					p[i] = alpha * t[(i0+i)*r+k]
				}
				kernels.AxpyN(gw[k*w:(k+1)*w], p[:b], zb, w)
			}
		}
	})
	for _, gw := range acc {
		kernels.Add(g[:r*w], gw)
	}
}
