package kernels

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
	if M == 0 || N == 0 {
		return
	}
	if K == 0 || N*K < smallWork {
		// Sgemm's dispatch for one row: the direct loop (or C = 0).
		for i := 0; i < M; i++ {
			c := C[i*ldc : i*ldc+N]
			if K == 0 {
				clear(c)
				continue
			}
			sgemmGeneric(false, true, 1, N, K, 1, A[i*lda:], lda, B, ldb, 0, c, ldc)
		}
		return
	}
	threads := max(1, min(Threads(), M*N*K/workPerThread))
	g := gemm{transB: true, M: M, N: N, K: K, alpha: 1, A: A, lda: lda, B: B, ldb: ldb, C: C, ldc: ldc}
	g.gemv(threads)
}

// RowStable reports whether Sgemm(false, true, M, N, K, ...) takes the
// blocked path, where every micro-kernel (full tiles and the 4-row edge
// kernels alike) sums each element of C over k in one FMA chain, slice by
// slice. Such a product's rows do not depend on the other rows: stacking
// the rows of several RowStable products into one Sgemm gives every row the
// same bits as its own product (TestRowsIndependentOfM). Serve uses it to
// run the prompt chunks of several requests as one pass over the weights.
func RowStable(M, N, K int) bool { return M > gemvRows && M*N*K >= smallWork }
