package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// AttnGemm against a float64 product on odd shapes: A row-major and
// transposed, padded strides, overwrite and accumulate, each cut mode with
// diagonals inside, before and past the tile, on the tile kernel and on
// the blocked-GEMM fallback. A holds zeros where the cut says so (as the
// masked probabilities do); C starts as garbage, which an overwrite must
// replace and columns a CutCols row does not need may keep.
func TestAttnGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	defer func(v bool, w int) { attnAsm, attnTileRows = v, w }(attnAsm, attnTileRows)
	shapes := [][3]int{{1, 1, 1}, {4, 64, 64}, {5, 17, 3}, {64, 64, 256}, {64, 200, 64}, {70, 130, 33}, {3, 65, 9}, {13, 48, 100}}
	for _, path := range []struct {
		asm  bool
		rows int
	}{{false, 4}, {attnAsm, 4}, {attnAsm, 6}} {
		asm := path.asm
		attnAsm, attnTileRows = asm, path.rows
		for _, sh := range shapes {
			M, N, K := sh[0], sh[1], sh[2]
			for _, trans := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					for _, cut := range []Cut{{}, {CutCols, 3}, {CutCols, -2}, {CutDepth, 5}, {CutDepth, -1}, {CutDepthFrom, -4}, {CutDepthFrom, 2}, {CutCols, K + N}} {
						name := fmt.Sprintf("asm=%v/rows=%d/%dx%dx%d/trans=%v/acc=%v/cut=%v", asm, path.rows, M, N, K, trans, acc, cut)
						checkAttnGemm(t, name, rng, M, N, K, trans, acc, cut)
					}
				}
			}
		}
	}
}

func checkAttnGemm(t *testing.T, name string, rng *rand.Rand, M, N, K int, trans, acc bool, cut Cut) {
	const pad = 3
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	ars, acs := K+pad, 1
	A := rnd(M * (K + pad))
	if trans {
		ars, acs = 1, M+pad
		A = rnd(K * (M + pad))
	}
	ldb, ldc := N+pad, N+pad
	B, C := rnd(K*ldb), rnd(M*ldc)
	for i := 0; i < M; i++ {
		for p := 0; p < K; p++ {
			if cut.Mode == CutDepth && p >= i+cut.D || cut.Mode == CutDepthFrom && p < i+cut.D {
				A[i*ars+p*acs] = 0
			}
		}
	}
	c0 := append([]float32(nil), C...)
	AttnGemm(M, N, K, A, ars, acs, B, ldb, C, ldc, acc, cut)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s, abs float64
			for p := 0; p < K; p++ {
				ab := float64(A[i*ars+p*acs]) * float64(B[p*ldb+j])
				s, abs = s+ab, abs+math.Abs(ab)
			}
			if acc {
				s += float64(c0[i*ldc+j])
				abs += math.Abs(float64(c0[i*ldc+j]))
			}
			got := float64(C[i*ldc+j])
			if cut.Mode == CutCols && j >= i+cut.D {
				continue // not needed: anything goes
			}
			if math.Abs(got-s) > 1e-6*abs+1e-30 || math.IsNaN(got) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v (scale %v)", name, i, j, got, s, abs)
			}
		}
		for j := N; j < ldc; j++ {
			if C[i*ldc+j] != c0[i*ldc+j] {
				t.Fatalf("%s: padding C[%d,%d] written", name, i, j)
			}
		}
	}
}

func TestTransposeScaled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][2]int{{1, 1}, {3, 5}, {256, 64}, {13, 17}, {8, 8}, {100, 9}} {
		n, k := sh[0], sh[1]
		for _, ldd := range []int{n, n + 5} {
			src := make([]float32, n*(k+2))
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			dst := make([]float32, k*ldd)
			TransposeScaled(dst, ldd, src, k+2, n, k, 0.5)
			for j := 0; j < n; j++ {
				for p := 0; p < k; p++ {
					if got, want := dst[p*ldd+j], 0.5*src[j*(k+2)+p]; got != want {
						t.Fatalf("%dx%d ldd %d: dst[%d,%d] = %v, want %v", n, k, ldd, p, j, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkAttnGemm compares AttnGemm with SgemmSerial on attention's tile
// products without a cut: 64 query rows, 256 keys, head size 64, with the
// strides of GPT-2's [T, 12, 64] layouts (B and C rows 768 floats apart;
// the scores read a transposed copy of the keys, 272 floats a row).
func BenchmarkAttnGemm(b *testing.B) {
	const m, w, d, ld = 64, 256, 64, 768
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 3*w*ld)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	A, B, C := x[:w*ld], x[w*ld:2*w*ld], x[2*w*ld:]
	for _, c := range []struct {
		name                        string
		M, N, K, ars, acs, ldb, ldc int
		transA                      bool
	}{
		{"scores-64x256x64", m, w, d, ld, 1, w + 16, w, false},
		{"pv-64x64x256", m, d, w, w, 1, ld, ld, false},
		{"ptdo-256x64x64", w, d, m, 1, w, ld, ld, true},
	} {
		flops := 2 * float64(c.M*c.N*c.K)
		for _, kc := range []int{32, 64, 256} {
			b.Run(fmt.Sprintf("%s/attn-kc%d", c.name, kc), func(b *testing.B) {
				defer func(v int) { attnKC = v }(attnKC)
				attnKC = kc
				for b.Loop() {
					AttnGemm(c.M, c.N, c.K, A, c.ars, c.acs, B, c.ldb, C, c.ldc, true, Cut{})
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		b.Run(c.name+"/sgemm", func(b *testing.B) {
			lda := c.ars
			if c.transA {
				lda = c.acs
			}
			for b.Loop() {
				SgemmSerial(c.transA, false, c.M, c.N, c.K, 1, A, lda, B, c.ldb, 1, C, c.ldc)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
