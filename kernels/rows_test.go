package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every row of SgemmRows must equal, bit for bit, Sgemm on that row alone,
// for shapes on both sides of the direct-loop and thread thresholds.
func TestSgemmRowsMatchesSingleRowSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][3]int{{1, 7, 5}, {3, 40, 50}, {5, 64, 64}, {9, 173, 67}, {17, 512, 300}, {64, 300, 768}} {
		M, N, K := sh[0], sh[1], sh[2]
		lda, ldb, ldc := K+3, K+1, N+2
		A := make([]float32, M*lda)
		B := make([]float32, N*ldb)
		for i := range A {
			A[i] = float32(rng.NormFloat64())
		}
		for i := range B {
			B[i] = float32(rng.NormFloat64())
		}
		C := make([]float32, M*ldc)
		SgemmRows(M, N, K, A, lda, B, ldb, C, ldc)
		one := make([]float32, N)
		for i := 0; i < M; i++ {
			Sgemm(false, true, 1, N, K, 1, A[i*lda:i*lda+K], lda, B, ldb, 0, one, N)
			for j := 0; j < N; j++ {
				if math.Float32bits(C[i*ldc+j]) != math.Float32bits(one[j]) {
					t.Fatalf("M=%d N=%d K=%d: C[%d,%d] = %g, alone %g", M, N, K, i, j, C[i*ldc+j], one[j])
				}
			}
		}
	}
}
