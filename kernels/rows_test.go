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

// dot3 must give exactly the three dots, for lengths around the vector
// loop's steps.
func TestDot3MatchesDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 64, 100, 768, 771} {
		x := make([]float32, 3*n)
		y := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range y {
			y[i] = float32(rng.NormFloat64())
		}
		var out [3]float32
		dot3(x[:n], x[n:2*n], x[2*n:], y, &out)
		for r := range 3 {
			if want := Dot(x[r*n:(r+1)*n], y); math.Float32bits(out[r]) != math.Float32bits(want) {
				t.Fatalf("n=%d row %d: %g, Dot %g", n, r, out[r], want)
			}
		}
	}
}

// BenchmarkSgemmRows: eight decode rows against a GPT-2 c_fc weight.
func BenchmarkSgemmRows(b *testing.B) {
	const M, N, K = 8, 3072, 768
	A := make([]float32, M*K)
	B := make([]float32, N*K)
	C := make([]float32, M*N)
	for i := range A {
		A[i] = float32(i%7) * 0.1
	}
	for i := range B {
		B[i] = float32(i%5) * 0.1
	}
	b.SetBytes(int64(4 * N * K))
	for b.Loop() {
		SgemmRows(M, N, K, A, K, B, K, C, N)
	}
}

// TestRowsIndependentOfM: rows of RowStable products, stacked into one
// Sgemm, get exactly the bits of their own products, on every
// implementation and thread count (the contract serve's batched prefill
// relies on).
func TestRowsIndependentOfM(t *testing.T) {
	shapes := [][2]int{{768, 768}, {300, 520}, {3150, 300}, {64, 64}, {33, 257}} // N, K
	spans := [][]int{{5, 16}, {7, 13, 9}, {12, 12}, {5, 5, 5, 5, 5}, {6, 25}}
	defer SetThreads(Threads())
	rng := rand.New(rand.NewPCG(3, 4))
	forEachImpl(t, func(t *testing.T) {
		for _, th := range []int{1, 2} {
			SetThreads(th)
			for _, s := range shapes {
				N, K := s[0], s[1]
				B := make([]float32, N*K)
				for i := range B {
					B[i] = rng.Float32()*2 - 1
				}
				for _, ms := range spans {
					tot := 0
					for _, m := range ms {
						if !RowStable(m, N, K) {
							t.Fatalf("span of %d rows on %dx%d is not RowStable", m, N, K)
						}
						tot += m
					}
					A := make([]float32, tot*K)
					for i := range A {
						A[i] = rng.Float32()*2 - 1
					}
					C := make([]float32, tot*N)
					Sgemm(false, true, tot, N, K, 1, A, K, B, K, 0, C, N)
					r0 := 0
					for _, m := range ms {
						c := make([]float32, m*N)
						Sgemm(false, true, m, N, K, 1, A[r0*K:], K, B, K, 0, c, N)
						for i := range c {
							if c[i] != C[r0*N+i] {
								t.Fatalf("threads %d, %dx%d, spans %v: rows from %d differ at %d: %v alone, %v stacked",
									th, N, K, ms, r0, i, c[i], C[r0*N+i])
							}
						}
						r0 += m
					}
				}
			}
		}
	})
}
