package kernels

import "sync/atomic"

// Decode's matrix-vector products stream their weights from memory, one
// parallel region per product. With a fixed share each, a goroutine that
// starts late or is preempted (a shared machine) keeps the others waiting
// at the end of the region, and on a machine whose read bandwidth is per
// core an idle core is bandwidth lost. splitCols instead lets goroutines
// claim column ranges as they go: guided scheduling, each claim a share of
// what is left (large contiguous runs first, small ones at the end).

// splitMinBytes is the least weight data a claim covers, so the claims of
// the last, small ranges stay long enough to stream (a few microseconds).
const splitMinBytes = 64 << 10

// splitCols runs f over column ranges [lo, hi) covering [0, N) once each,
// on threads goroutines; a range's columns are a multiple of 8 except at
// N, and at least minCols. Multiples of 8 keep the bits independent of
// the split: the non-transposed path's axpy runs whole 8-lane FMA groups
// from each range's start and its scalar tail (a multiply, then an add)
// then only ever gets the last N%8 columns, as on one thread.
func splitCols(N, threads, minCols int, f func(lo, hi int)) {
	var next atomic.Int64
	Run(threads, func(int) {
		for {
			lo := int(next.Load())
			if lo >= N {
				return
			}
			n := (max(minCols, (N-lo)/(2*threads)) + 7) &^ 7
			hi := min(N, lo+n)
			if next.CompareAndSwap(int64(lo), int64(hi)) {
				f(lo, hi)
			}
		}
	})
}

// splitMinCols is the least columns a claim of a product with rows of K
// weights of elemBytes covers.
func splitMinCols(K, elemBytes int) int {
	return max(4, splitMinBytes/max(K*elemBytes, 1))
}

// SgemmThen is Sgemm followed by then(j0, j1) on column ranges of C that
// cover [0, N) once each, each once its columns are final. On the
// matrix-vector path (M ≤ 4 rows: decode) the goroutines of the product run
// then on the columns they computed, inside the product's parallel region:
// a decode step's bias and activation need no serial pass of their own.
// Elsewhere then(0, N) runs after the product. then must be safe to run
// concurrently on disjoint ranges.
func SgemmThen(transA, transB bool, M, N, K int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int, then func(j0, j1 int)) {
	checkGemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc)
	g := gemm{transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb, beta: beta, C: C, ldc: ldc, then: then}
	g.runThreaded()
	if g.then != nil && N > 0 { // a path that does not run it: gemv clears it
		then(0, N)
	}
}
