package kernels

// Row-exact dot products. Sgemm's matrix-vector path (M ≤ gemvRows rows,
// B transposed: a Linear's one-token forward) and SgemmRows (any M: the
// decode rows of a serving batch) compute every C[i,j] as one dot product
// of row i of A with row j of B, summed in an order that depends on those
// two rows only: not on M, on which rows or columns share a tile, or on how
// the columns are split over threads. A decode row batched with others
// therefore gets exactly the bits it gets alone.
//
// The order is the CPU path's: with AVX-512, 16 lanes, lane l summing the
// products of the elements k ≡ l (mod 16) in one FMA chain (a tail shorter
// than 16 zero-filled), then the lanes summed in the tree (l, l+8),
// (l, l+4), (l, l+2), (l, l+1) (rowTileAVX512, four rows by four columns
// per pass so every load feeds four FMAs); rowDotGeneric is that order in
// Go, the fallback without assembly; with AVX2 only, dot and dot3 (four
// 8-lane accumulators).

// set stores C[i][j] = s (+ beta·C[i][j]), one output of the row-dot paths.
func (g *gemm) set(i, j int, s float32) {
	c := &g.C[i*g.ldc+j]
	if g.beta == 0 {
		*c = s
	} else {
		*c = s + g.beta**c
	}
}

// rowDots computes columns [lo,hi) of C = a·Bᵀ (+ beta·C) for gemv, a
// holding alpha·op(A) as M rows of K, lda apart.
func (g *gemm) rowDots(a []float32, lda, lo, hi int) {
	M, K := g.M, g.K
	switch {
	case useAVX512:
		var p [8]*float32
		var out [16]float32
		for j := lo; j < hi; j += 4 {
			nc := min(4, hi-j)
			for c := range 4 {
				// a short tile repeats its last column
				p[4+c] = &g.B[(j+min(c, nc-1))*g.ldb]
			}
			for i := 0; i < M; {
				nr := rowTileRows(M - i)
				for r := range 4 {
					p[r] = &a[(i+min(r, nr-1))*lda]
				}
				rowTile(&p, K, nr, &out)
				for r := range nr {
					row, o := g.C[(i+r)*g.ldc+j:][:nc], out[4*r:][:nc]
					if g.beta == 0 {
						copy(row, o)
						continue
					}
					for c := range row {
						row[c] = o[c] + g.beta*row[c]
					}
				}
				i += nr
			}
		}
	case useAVX2FMA:
		// Three rows share each load of b (dot3 is bit-identical to
		// three dots).
		var s3 [3]float32
		for j := lo; j < hi; j++ {
			b := g.B[j*g.ldb : j*g.ldb+K]
			i := 0
			for ; i+3 <= M; i += 3 {
				dot3(a[i*lda:i*lda+K], a[(i+1)*lda:(i+1)*lda+K], a[(i+2)*lda:(i+2)*lda+K], b, &s3)
				g.set(i, j, s3[0])
				g.set(i+1, j, s3[1])
				g.set(i+2, j, s3[2])
			}
			for ; i < M; i++ {
				g.set(i, j, dot(a[i*lda:i*lda+K], b))
			}
		}
	default:
		for j := lo; j < hi; j++ {
			b := g.B[j*g.ldb : j*g.ldb+K]
			for i := range M {
				g.set(i, j, rowDotGeneric(a[i*lda:i*lda+K], b))
			}
		}
	}
}

// rowTileRows is how many of the m rows left the next tile takes: four,
// or one for a last single row, where a 4-row pass would spend three
// quarters of its FMAs on padding.
func rowTileRows(m int) int {
	if m == 1 {
		return 1
	}
	return min(m, 4)
}

// rowDotGeneric returns x·y (len(y) ≥ len(x)) in the row-exact order of
// the AVX-512 tile.
func rowDotGeneric(x, y []float32) float32 {
	var s [16]float32
	n := len(x) &^ 15
	for k := 0; k < n; k += 16 {
		xs, ys := x[k:k+16:k+16], y[k:k+16:k+16]
		for l := range s {
			s[l] += xs[l] * ys[l]
		}
	}
	if n < len(x) {
		var xt, yt [16]float32
		copy(xt[:], x[n:])
		copy(yt[:], y[n:len(x)])
		for l := range s {
			s[l] += xt[l] * yt[l]
		}
	}
	for h := 8; h > 0; h /= 2 {
		for l := range h {
			s[l] += s[l+h]
		}
	}
	return s[0]
}
