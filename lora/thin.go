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
			xi := x[i*w : (i+1)*w]
			for k := 0; k < r; k++ {
				t[i*r+k] = alpha * kernels.Dot(xi, m[k*w:(k+1)*w])
			}
		}
	})
}

// rowsAxpy computes y_i += alpha·Σ_k t[i,k]·m_k for t (n, r), m (r, w):
// y += alpha·t·m (n, w).
func rowsAxpy(y []float32, alpha float32, t, m []float32, n, r, w int) {
	splitRows(n, n*w, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			yi := y[i*w : (i+1)*w]
			for k := 0; k < r; k++ {
				kernels.Axpy(alpha*t[i*r+k], m[k*w:(k+1)*w], yi)
			}
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
	splitRows(n, n*w, func(wk, lo, hi int) {
		gw := acc[wk]
		for i := lo; i < hi; i++ {
			zi := z[i*w : (i+1)*w]
			if dt != nil {
				for k := 0; k < r; k++ {
					dt[i*r+k] = beta * kernels.Dot(zi, m[k*w:(k+1)*w])
				}
			}
			for k := 0; k < r; k++ {
				kernels.Axpy(alpha*t[i*r+k], zi, gw[k*w:(k+1)*w])
			}
		}
	})
	for _, gw := range acc {
		kernels.Add(g[:r*w], gw)
	}
}
