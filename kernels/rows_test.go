package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

// Every row of SgemmRows must equal, bit for bit, Sgemm on that row alone,
// on every implementation and thread count, for shapes on both sides of
// the direct-loop and thread thresholds and odd ones around the tiles
// (rows and columns not multiples of 4, K not a multiple of 16 or below
// it); and be within rounding of the float64 product.
func TestSgemmRowsMatchesSingleRowSgemm(t *testing.T) {
	shapes := [][3]int{{1, 7, 5}, {3, 40, 50}, {5, 64, 64}, {9, 173, 67}, {2, 97, 15}, {6, 301, 17},
		{7, 63, 129}, {8, 130, 768}, {17, 512, 300}, {64, 300, 768}, {8, 35, 3075}}
	defer SetThreads(Threads())
	rng := rand.New(rand.NewPCG(1, 2))
	forEachImpl(t, func(t *testing.T) {
		for _, th := range []int{1, 2} {
			SetThreads(th)
			for _, sh := range shapes {
				M, N, K := sh[0], sh[1], sh[2]
				g := newGemm(rng, false, true, M, N, K, 1, 0, 3)
				want, scale := naiveGemm(g)
				SgemmRows(M, N, K, g.A, g.lda, g.B, g.ldb, g.C, g.ldc)
				checkGemmResult(t, g, g.C, want, scale)
				one := make([]float32, N)
				for i := 0; i < M; i++ {
					Sgemm(false, true, 1, N, K, 1, g.A[i*g.lda:i*g.lda+K], g.lda, g.B, g.ldb, 0, one, N)
					for j := 0; j < N; j++ {
						if math.Float32bits(g.C[i*g.ldc+j]) != math.Float32bits(one[j]) {
							t.Fatalf("threads %d, M=%d N=%d K=%d: C[%d,%d] = %g, alone %g", th, M, N, K, i, j, g.C[i*g.ldc+j], one[j])
						}
					}
				}
			}
		}
	})
}

// The AVX-512 tile must compute exactly the order rowdot.go documents:
// each result equals fmaOrder's, an exact emulation of its FMAs and
// reduction tree, bit for bit, for the 1- and 4-row passes and tails of
// every length.
func TestRowTileOrder(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 5, 15, 16, 17, 31, 32, 33, 100, 768, 771} {
		var rows [8][]float32
		var p [8]*float32
		for r := range rows {
			rows[r] = make([]float32, n)
			for k := range rows[r] {
				rows[r][k] = float32(rng.NormFloat64())
			}
			p[r] = &rows[r][0]
		}
		for _, nr := range []int{1, 4} {
			out := [16]float32{}
			for i := range out {
				out[i] = float32(math.NaN())
			}
			rowTile(&p, n, nr, &out)
			for r := range nr {
				for c := range 4 {
					if want := fmaOrder(rows[r], rows[4+c]); math.Float32bits(out[4*r+c]) != math.Float32bits(want) {
						t.Fatalf("n=%d rows=%d: out[%d,%d] = %g, want %g", n, nr, r, c, out[4*r+c], want)
					}
				}
			}
		}
	}
}

// fmaOrder is rowDotGeneric with every multiply-add fused, as the AVX-512
// tile does it: a float32 FMA emulated exactly.
func fmaOrder(x, y []float32) float32 {
	var s [16]float32
	for k := 0; k < len(x); k += 16 {
		for l := range s {
			var a, b float32 // zero-filled tail
			if k+l < len(x) {
				a, b = x[k+l], y[k+l]
			}
			s[l] = fma32(a, b, s[l])
		}
	}
	for h := 8; h > 0; h /= 2 {
		for l := range h {
			s[l] += s[l+h]
		}
	}
	return s[0]
}

// fma32 returns a·b+c rounded once to float32. The product is exact in
// float64, so math.FMA rounds only the sum; that rounding can matter
// (double rounding) only when it lands exactly halfway between two
// float32s, and then the exact sum is taken with math/big.
func fma32(a, b, c float32) float32 {
	r := math.FMA(float64(a), float64(b), float64(c))
	if math.Float64bits(r)&(1<<29-1) != 1<<28 {
		return float32(r)
	}
	x := new(big.Float).SetPrec(256).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// rowDotGeneric, the fallback, sums in the tile's order (without fusing):
// within rounding of the float64 dot product.
func TestRowDotGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 15, 16, 17, 100, 771} {
		x, y := make([]float32, n), make([]float32, n+3)
		for k := range x {
			x[k], y[k] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		var want, scale float64
		for k := range x {
			want += float64(x[k]) * float64(y[k])
			scale += math.Abs(float64(x[k]) * float64(y[k]))
		}
		if got := rowDotGeneric(x, y); relErr(float64(got), want, scale) > 1e-6 {
			t.Fatalf("n=%d: %g, want %g", n, got, want)
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

// BenchmarkSgemmRows: one and eight decode rows against GPT-2's c_fc
// (3072×768) and c_proj (768×3072) weights.
func BenchmarkSgemmRows(b *testing.B) {
	// GPT-2's c_fc and c_proj (B from L3 or memory), its LM head (154 MB
	// of B streamed from memory: the weight prefetch), and 8 rows over B in
	// L1/L2 (the kernel's arithmetic rate and the per-call overhead).
	for _, sh := range [][3]int{{1, 3072, 768}, {8, 3072, 768}, {1, 768, 3072}, {8, 768, 3072}, {1, 50257, 768}, {8, 50257, 768}, {8, 8, 768}, {8, 64, 768}} {
		M, N, K := sh[0], sh[1], sh[2]
		b.Run(fmt.Sprintf("%dx%dx%d", M, N, K), func(b *testing.B) {
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
		})
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

// Every row of GemmHalfRows equals GemmHalf on that row alone, bit for
// bit, for both dtypes on every path, and the float64 product of the
// rounded operands within rounding.
func TestGemmHalfRowsMatchesSingleRow(t *testing.T) {
	// The last two have more rows than one AMX operand (16) and block (32).
	shapes := [][3]int{{1, 7, 5}, {3, 40, 50}, {6, 97, 33}, {9, 173, 67}, {8, 130, 768}, {17, 64, 96}, {37, 70, 64}}
	defer SetThreads(Threads())
	rng := rand.New(rand.NewPCG(9, 10))
	halfPaths(t, func(t *testing.T) {
		for _, th := range []int{1, 2} {
			SetThreads(th)
			for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
				for _, sh := range shapes {
					M, N, K := sh[0], sh[1], sh[2]
					lda, ldb, ldc := K+3, K+1, N+2
					_, A := guarded(rng, (M-1)*lda+K, 0)
					B := randHalf(rng, dt, (N-1)*ldb+K)
					C := make([]float32, M*ldc)
					GemmHalfRows(dt, M, N, K, A, lda, B, ldb, C, ldc)
					want := naiveHalf(dt, true, M, N, K, A, lda, B, ldb, 0, nil, ldc)
					one := make([]float32, N)
					for i := 0; i < M; i++ {
						GemmHalf(dt, true, 1, N, K, A[i*lda:i*lda+K], lda, B, ldb, 0, one, N)
						for j := 0; j < N; j++ {
							got := C[i*ldc+j]
							if math.Float32bits(got) != math.Float32bits(one[j]) {
								t.Fatalf("%v threads %d, %dx%dx%d: C[%d,%d] = %g, alone %g", dt, th, M, N, K, i, j, got, one[j])
							}
							if e := relErr(float64(got), want[i*N+j], math.Sqrt(float64(K))); e > 1e-5 {
								t.Fatalf("%v %dx%dx%d: C[%d,%d] = %g, want %g", dt, M, N, K, i, j, got, want[i*N+j])
							}
						}
					}
				}
			}
		}
	})
}
