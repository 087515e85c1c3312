package kernels

import "github.com/golora/golora/tensor"

// SgemmRows computes C = A·Bᵀ (A M×K, B N×K, C M×N, row-major, C
// overwritten) so that every row of C is bit-identical to what
// Sgemm(false, true, 1, N, K, 1, A_i, lda, B, ldb, 0, C_i, ldc) gives for
// that row alone, whatever M is. Sgemm itself sends M ≤ 4 to dot products
// and larger M to the blocked kernels, whose sums are ordered differently,
// so a row's result would depend on how many rows share the call. A server
// that batches the decode rows of unrelated requests needs each row to come
// out as it would when decoded alone; this is still one pass over B per
// call (each B row is dotted with every row of A while it is in cache).
func SgemmRows(M, N, K int, A []float32, lda int, B []float32, ldb int, C []float32, ldc int) {
	checkGemm(false, true, M, N, K, A, lda, B, ldb, C, ldc)
	g := gemm{transB: true, M: M, N: N, K: K, alpha: 1, A: A, lda: lda, B: B, ldb: ldb, C: C, ldc: ldc}
	g.runRows()
}

// GemmHalfRows is SgemmRows for a 16-bit B (GemmHalf's dtypes): every row
// of C is bit-identical to GemmHalf(dt, true, 1, N, K, A_i, lda, B, ldb, 0,
// C_i, ldc) on that row alone, whatever M is.
func GemmHalfRows(dt tensor.DType, M, N, K int, A []float32, lda int, B []uint16, ldb int, C []float32, ldc int) {
	if dt != tensor.BF16 && dt != tensor.F16 {
		panic("kernels: GemmHalfRows dtype " + dt.String())
	}
	checkGemmHalf(true, M, N, K, A, lda, B, ldb, C, ldc)
	g := gemm{transB: true, M: M, N: N, K: K, alpha: 1, A: A, lda: lda, ldb: ldb, C: C, ldc: ldc, bh: B, bdt: dt}
	g.runRows()
}

// runRows runs a product with B transposed, alpha 1 and beta 0 the way run
// dispatches a single row, for every row: the paths it takes for one row
// (the direct loops, the matrix-vector ones) compute each row on its own,
// so they give M rows their one-row bits; still one pass over B for all.
func (g *gemm) runRows() {
	if g.M == 0 || g.N == 0 {
		return
	}
	if g.K == 0 {
		g.scaleC()
		return
	}
	threads := max(1, min(Threads(), g.M*g.N*g.K/workPerThread))
	small := g.N*g.K < smallWork
	switch {
	case g.bh != nil && small:
		g.halfGeneric()
	case g.bh != nil && g.bdt == tensor.BF16 && useAMX:
		g.amx(threads) // as run: a row's tile sums do not depend on the others
	case g.bh != nil:
		g.gemvHalf(threads)
	case small:
		for i := 0; i < g.M; i++ {
			sgemmGeneric(false, true, 1, g.N, g.K, 1, g.A[i*g.lda:], g.lda, g.B, g.ldb, 0, g.C[i*g.ldc:], g.ldc)
		}
	default:
		g.gemv(threads)
	}
}

// RowStable reports whether Sgemm(false, true, M, N, K, ...) takes the
// blocked path, where every micro-kernel (full tiles and the 4-row edge
// kernels alike) sums each element of C over k in one FMA chain, slice by
// slice. Such a product's rows do not depend on the other rows: stacking
// the rows of several RowStable products into one Sgemm gives every row the
// same bits as its own product (TestRowsIndependentOfM). Serve uses it to
// run the prompt chunks of several requests as one pass over the weights.
func RowStable(M, N, K int) bool { return M > gemvRows && M*N*K >= smallWork }
