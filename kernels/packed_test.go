package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// SgemmPackedBT must give Sgemm's bits (the same panels, read instead of
// packed) and be within rounding of float64, on shapes around the panel
// width and the K slice (N not a multiple of nr, K above and below kc),
// several thread counts and every implementation; a PackedB made for
// another micro-kernel falls back to packing.
func TestSgemmPackedBT(t *testing.T) {
	shapes := [][3]int{{1, 40, 17}, {4, 100, 300}, {5, 33, 7}, {13, 1000, 40}, {37, 77, 257}, {256, 301, 520}, {64, 3100, 65}}
	defer SetThreads(Threads())
	first := map[[3]int]*PackedB{} // packed under the first implementation
	forEachImpl(t, func(t *testing.T) {
		for _, sh := range shapes {
			M, N, K := sh[0], sh[1], sh[2]
			g := newGemm(rand.New(rand.NewPCG(uint64(N), uint64(K))), false, true, M, N, K, 1, 0, 3)
			want, scale := naiveGemm(g)
			pb := PackBT(N, K, g.B, g.ldb)
			if first[sh] == nil {
				first[sh] = pb
			}
			if pb.Floats() < N*K {
				t.Fatalf("%v: %d floats packed", sh, pb.Floats())
			}
			for _, th := range []int{1, 2, 3} {
				SetThreads(th)
				plain := make([]float32, len(g.C))
				Sgemm(false, true, M, N, K, 1, g.A, g.lda, g.B, g.ldb, 0, plain, g.ldc)
				orig := append([]float32(nil), g.C...)
				for _, p := range []*PackedB{pb, first[sh]} {
					SgemmPackedBT(M, N, K, g.A, g.lda, g.B, g.ldb, p, g.C, g.ldc)
					checkGemmResult(t, g, orig, want, scale)
					for i := 0; i < M; i++ {
						for j := 0; j < N; j++ {
							if k := i*g.ldc + j; math.Float32bits(g.C[k]) != math.Float32bits(plain[k]) {
								t.Fatalf("threads %d %v: C[%d,%d] = %g, Sgemm's %g", th, sh, i, j, g.C[k], plain[k])
							}
						}
					}
				}
			}
		}
	})
}
