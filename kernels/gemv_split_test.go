package kernels

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// splitCols must hand out every column exactly once, in ranges of a
// multiple of 8 columns (but the last) and at least minCols, for any N and
// thread count.
func TestSplitCols(t *testing.T) {
	for _, th := range []int{1, 2, 3, 7} {
		for _, N := range []int{1, 3, 4, 5, 17, 255, 1000, 50257} {
			for _, minCols := range []int{4, 21, 1 << 20} {
				seen := make([]atomic.Int32, N)
				splitCols(N, th, minCols, func(lo, hi int) {
					if hi <= lo || (hi != N && ((hi-lo)%8 != 0 || hi-lo < minCols)) {
						t.Errorf("threads %d N %d min %d: range [%d, %d)", th, N, minCols, lo, hi)
					}
					for j := lo; j < hi; j++ {
						seen[j].Add(1)
					}
				})
				for j := range seen {
					if n := seen[j].Load(); n != 1 {
						t.Fatalf("threads %d N %d min %d: column %d computed %d times", th, N, minCols, j, n)
					}
				}
			}
		}
	}
}

// SgemmThen is Sgemm (within rounding of float64, and bit-identical to
// Sgemm whatever the thread count: the split claims columns, each still
// computed alone) followed by its epilogue on every column exactly once,
// on the matrix-vector path (inside the region) and the others alike, on
// every implementation.
func TestSgemmThen(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {1, 17, 3}, {1, 1001, 67}, {3, 2305, 65}, {4, 63, 3075}, {2, 5000, 17}, {5, 129, 17}, {13, 300, 40}}
	defer SetThreads(Threads())
	rng := rand.New(rand.NewPCG(7, 9))
	forEachImpl(t, func(t *testing.T) {
		for _, sh := range shapes {
			M, N, K := sh[0], sh[1], sh[2]
			var ref []float32
			for _, th := range []int{1, 2, 3} {
				SetThreads(th)
				g := newGemm(rand.New(rand.NewPCG(uint64(M), uint64(N))), false, true, M, N, K, 1, 0, 3)
				want, scale := naiveGemm(g)
				plain := make([]float32, len(g.C))
				Sgemm(false, true, M, N, K, 1, g.A, g.lda, g.B, g.ldb, 0, plain, g.ldc)
				orig := append([]float32(nil), g.C...)
				seen := make([]atomic.Int32, N)
				bias := make([]float32, N)
				for j := range bias {
					bias[j] = rng.Float32()
				}
				out := make([]float32, M*N) // the epilogue's output: C plus a bias
				SgemmThen(false, true, M, N, K, 1, g.A, g.lda, g.B, g.ldb, 0, g.C, g.ldc, func(lo, hi int) {
					for j := lo; j < hi; j++ {
						seen[j].Add(1)
						for i := 0; i < M; i++ {
							out[i*N+j] = g.C[i*g.ldc+j] + bias[j]
						}
					}
				})
				for j := range seen {
					if n := seen[j].Load(); n != 1 {
						t.Fatalf("threads %d %v: epilogue ran %d times on column %d", th, sh, n, j)
					}
				}
				for i := 0; i < M; i++ {
					for j := 0; j < N; j++ {
						c := plain[i*g.ldc+j]
						if math.Float32bits(g.C[i*g.ldc+j]) != math.Float32bits(c) || math.Float32bits(out[i*N+j]) != math.Float32bits(c+bias[j]) {
							t.Fatalf("threads %d %v: C[%d,%d] = %g, epilogue %g; Sgemm's %g", th, sh, i, j, g.C[i*g.ldc+j], out[i*N+j], c)
						}
					}
				}
				checkGemmResult(t, g, orig, want, scale)
				if M <= gemvRows { // the split must not change a bit
					if ref == nil {
						ref = plain
					}
					for k := range ref {
						if math.Float32bits(ref[k]) != math.Float32bits(plain[k]) {
							t.Fatalf("%v: C[%d] = %g at %d threads, %g at 1", sh, k, plain[k], th, ref[k])
						}
					}
				}
			}
		}
	})
}
