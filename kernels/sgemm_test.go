package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveGemm is the float64 reference: C = alpha*op(A)*op(B) + beta*C, also
// returning, per element, the scale sum |alpha*a*b| + |beta*c| that rounding
// errors are measured against.
func naiveGemm(g *gemm) (want, scale []float64) {
	want = make([]float64, g.M*g.N)
	scale = make([]float64, g.M*g.N)
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			var s, abs float64
			for p := 0; p < g.K; p++ {
				var a, b float64
				if g.transA {
					a = float64(g.A[p*g.lda+i])
				} else {
					a = float64(g.A[i*g.lda+p])
				}
				if g.transB {
					b = float64(g.B[j*g.ldb+p])
				} else {
					b = float64(g.B[p*g.ldb+j])
				}
				s += a * b
				abs += math.Abs(a * b)
			}
			s *= float64(g.alpha)
			abs *= math.Abs(float64(g.alpha))
			if g.beta != 0 {
				c := float64(g.beta) * float64(g.C[i*g.ldc+j])
				s += c
				abs += math.Abs(c)
			}
			want[i*g.N+j] = s
			scale[i*g.N+j] = abs
		}
	}
	return want, scale
}

// newGemm builds random operands with padded strides; C starts as NaN
// when beta == 0 to prove it is not read.
func newGemm(rng *rand.Rand, transA, transB bool, M, N, K int, alpha, beta float32, pad int) *gemm {
	ar, ac := M, K
	if transA {
		ar, ac = K, M
	}
	br, bc := K, N
	if transB {
		br, bc = N, K
	}
	g := &gemm{transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, beta: beta,
		lda: ac + pad, ldb: bc + pad, ldc: N + pad}
	g.lda, g.ldb, g.ldc = max(g.lda, 1), max(g.ldb, 1), max(g.ldc, 1)
	rnd := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
		return s
	}
	g.A = rnd(max(0, (ar-1)*g.lda+ac))
	g.B = rnd(max(0, (br-1)*g.ldb+bc))
	g.C = rnd(max(0, (M-1)*g.ldc+N+pad)) // pad past the end guards stray writes
	if beta == 0 {
		for i := range g.C {
			g.C[i] = float32(math.NaN())
		}
	}
	return g
}

// checkGemmResult compares C with the reference and checks that the stride
// padding between rows (and past the end) was left alone.
func checkGemmResult(t *testing.T, g *gemm, orig []float32, want, scale []float64) {
	t.Helper()
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			got := float64(g.C[i*g.ldc+j])
			w := want[i*g.N+j]
			if e := relErr(got, w, scale[i*g.N+j]); !(e <= 1e-5) {
				t.Fatalf("C[%d,%d] = %v, want %v (rel err %.3g)", i, j, got, w, e)
			}
		}
	}
	for k := range g.C {
		i, j := k/g.ldc, k%g.ldc
		if (i >= g.M || j >= g.N) && math.Float32bits(g.C[k]) != math.Float32bits(orig[k]) {
			t.Fatalf("C[%d] outside the matrix changed: %v -> %v", k, orig[k], g.C[k])
		}
	}
}

// gemmPaths are the code paths Sgemm can take, each runnable on any shape.
var gemmPaths = []struct {
	name    string
	threads int
	run     func(g *gemm, threads int)
}{
	{"reference", 1, func(g *gemm, _ int) {
		sgemmGeneric(g.transA, g.transB, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc)
	}},
	{"dispatch/1", 1, (*gemm).run},
	{"dispatch/2", 2, (*gemm).run},
	{"gemv/2", 2, (*gemm).gemv},
	{"blocked/1", 1, (*gemm).blocked},
	{"blocked/2", 2, (*gemm).blocked},
	{"blocked/3", 3, (*gemm).blocked},
}

func TestSgemm(t *testing.T) {
	shapes := [][3]int{ // M, N, K
		{1, 1, 1}, {1, 17, 3}, {3, 1, 17}, {17, 3, 1}, {2, 63, 129}, {4, 1000, 63},
		{5, 129, 17}, {6, 16, 256}, {7, 33, 257}, {12, 32, 8}, {17, 63, 65},
		{63, 129, 17}, {129, 17, 63}, {1000, 3, 17}, {13, 1000, 40},
		// N > ncPerThread: several column chunks, the last one narrower
		{13, 3112, 20},
		// ... and with K > kc, A packed once per K slice is kept across them
		{20, 3150, 400},
		// two row blocks of A (the second not a whole number of panels),
		// two column chunks at 2 threads, three K slices
		{300, 70, 800},
		{65, 129, 1027}, {130, 3100, 9}, {200, 64, 520},
	}
	if testing.Short() {
		shapes = shapes[:len(shapes)-3]
	}
	scalars := [][2]float32{{1, 0}, {-0.5, 0.3}, {2, 1}}
	rng := rand.New(rand.NewPCG(7, 8))
	forEachImpl(t, func(t *testing.T) {
		for _, s := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, ab := range scalars {
					M, N, K := s[0], s[1], s[2]
					g := newGemm(rng, tr[0], tr[1], M, N, K, ab[0], ab[1], 3)
					want, scale := naiveGemm(g)
					orig := append([]float32(nil), g.C...)
					for _, p := range gemmPaths {
						if p.name == "gemv/2" && M > 17 {
							continue // correct for any M, but slow
						}
						name := fmt.Sprintf("%s/%dx%dx%d/tA=%v/tB=%v/a=%v/b=%v", p.name, M, N, K, tr[0], tr[1], ab[0], ab[1])
						t.Run(name, func(t *testing.T) {
							copy(g.C, orig)
							p.run(g, p.threads)
							checkGemmResult(t, g, orig, want, scale)
						})
					}
				}
			}
		}
	})
}

// TestSgemmQuickReturns covers K == 0 and alpha == 0 (C = beta*C) and the
// empty shapes, through the exported function.
func TestSgemmQuickReturns(t *testing.T) {
	for _, c := range []struct {
		name        string
		M, N, K     int
		alpha, beta float32
		want        float32
	}{
		{"K=0 beta=0", 2, 3, 0, 1, 0, 0},
		{"K=0 beta=2", 2, 3, 0, 1, 2, 2},
		{"alpha=0 beta=0.5", 2, 3, 4, 0, 0.5, 0.5},
		{"M=0", 0, 3, 4, 1, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			C := []float32{1, 1, 1, 1, 1, 1}
			A := make([]float32, max(1, c.M*c.K))
			B := make([]float32, max(1, c.K*c.N))
			for i := range A {
				A[i] = float32(math.NaN()) // alpha == 0 must not propagate A
			}
			Sgemm(false, false, c.M, c.N, c.K, c.alpha, A, max(c.K, 1), B, c.N, c.beta, C, c.N)
			for i, v := range C {
				if v != c.want {
					t.Fatalf("C[%d] = %v, want %v", i, v, c.want)
				}
			}
		})
	}
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 12)
	for _, c := range []struct {
		want string
		f    func()
	}{
		{badDim, func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{badLdA, func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) }},
		{badLdA, func() { Sgemm(true, false, 3, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{badLdB, func() { Sgemm(false, true, 2, 2, 3, 1, a, 3, a, 2, 0, a, 2) }},
		{badLdC, func() { Sgemm(false, false, 2, 3, 2, 1, a, 2, a, 3, 0, a, 2) }},
		{shortA, func() { Sgemm(false, false, 4, 2, 4, 1, a, 4, a, 2, 0, a, 2) }},
		{shortB, func() { Sgemm(false, false, 2, 4, 4, 1, a, 4, a, 4, 0, a, 4) }},
		{shortC, func() { Sgemm(false, false, 4, 4, 1, 1, a, 1, a, 4, 0, a, 4) }},
	} {
		t.Run(c.want, func(t *testing.T) {
			defer func() {
				if r := recover(); r != c.want {
					t.Errorf("panic %v, want %q", r, c.want)
				}
			}()
			c.f()
		})
	}
}

func TestThreads(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	for _, c := range []struct{ set, want int }{{3, 3}, {1, 1}, {0, 1}, {-2, 1}} {
		SetThreads(c.set)
		if got := Threads(); got != c.want {
			t.Errorf("SetThreads(%d): Threads() = %d, want %d", c.set, got, c.want)
		}
	}
}

// FuzzSgemm runs the dispatcher on fuzzed shapes, transposes and scalars at
// several thread counts against the float64 reference.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(17), uint8(33), false, true, float32(1), float32(0), uint8(2), uint64(1))
	f.Add(uint8(64), uint8(65), uint8(200), true, false, float32(-1.5), float32(0.5), uint8(1), uint64(2))
	f.Add(uint8(3), uint8(255), uint8(255), true, true, float32(0.25), float32(1), uint8(3), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k uint8, transA, transB bool, alpha, beta float32, threads uint8, seed uint64) {
		if alpha != alpha || beta != beta || math.Abs(float64(alpha)) > 1e3 || math.Abs(float64(beta)) > 1e3 {
			t.Skip()
		}
		rng := rand.New(rand.NewPCG(seed, 9))
		M, N, K := int(m)%200, int(n)%300, int(k)%300
		g := newGemm(rng, transA, transB, M, N, K, alpha, beta, int(seed%3))
		want, scale := naiveGemm(g)
		orig := append([]float32(nil), g.C...)
		g.run(1 + int(threads)%4)
		checkGemmResult(t, g, orig, want, scale)
	})
}

// TestTransposeInto checks the panel transpose behind A and B packing on
// every width kind the assembly takes: multiples of 8 (B panels), 8 and 4
// rows (12-row A panels), 4 and an overlapping 4 (the AVX2 kernel's 6-row
// A panels), overlapping last groups (13, 9, 10), fewer rows than the
// panel is wide (zero columns), too few rows for it (3), and depths off a
// multiple of 8.
func TestTransposeInto(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	forEachImpl(t, func(t *testing.T) {
		for _, c := range [][3]int{{12, 12, 37}, {12, 12, 8}, {8, 8, 19}, {16, 16, 40}, {32, 32, 33}, {13, 13, 24}, {20, 20, 17}, {9, 12, 30},
			{6, 6, 10}, {6, 6, 256}, {4, 4, 16}, {5, 5, 9}, {7, 7, 8}, {9, 9, 16}, {10, 10, 24}, {3, 3, 16}} {
			n, w, k := c[0], c[1], c[2]
			ld := k + 3
			src := make([]float32, (n-1)*ld+k)
			for i := range src {
				src[i] = rng.Float32()
			}
			panel := make([]float32, k*w+5)
			for i := range panel {
				panel[i] = guardVal
			}
			transposeInto(panel, src, ld, n, k, w)
			for p := 0; p < k; p++ {
				for i := 0; i < w; i++ {
					want := float32(0)
					if i < n {
						want = src[i*ld+p]
					}
					if got := panel[p*w+i]; got != want {
						t.Fatalf("%dx%d (w %d): panel[%d*%d+%d] = %v, want %v", n, k, w, p, w, i, got, want)
					}
				}
			}
			for i := k * w; i < len(panel); i++ {
				if panel[i] != guardVal {
					t.Fatalf("%dx%d (w %d): panel[%d] past the end written", n, k, w, i)
				}
			}
		}
	})
}

// TestSgemmSharedA runs column-split products with op(A) shared while
// every other block stays "being packed" by a goroutine that never
// finishes, so the goroutines pack some blocks for all and copies of their
// own of the rest, and checks the result against the float64 reference.
func TestSgemmSharedA(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	forEachImpl(t, func(t *testing.T) {
		for _, s := range [][3]int{{300, 70, 800}, {13, 100, 20}, {256, 200, 300}, {30, 64, 8}} {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, stuck := range []int{0, 1, 2} { // none, every other block, all
					M, N, K := s[0], s[1], s[2]
					g := newGemm(rng, tr[0], tr[1], M, N, K, 1.5, 0.5, 2)
					want, scale := naiveGemm(g)
					orig := append([]float32(nil), g.C...)
					ge := pickGeom()
					r := &columnRun{g: *g, ge: ge, width: 2 * ge.nr, chunks: (N + 2*ge.nr - 1) / (2 * ge.nr), bsize: 2 * bstep(ge.nr)}
					r.bpack = make([]float32, 3*r.bsize)
					if r.shareA(3) == nil {
						t.Fatalf("%dx%dx%d: op(A) not shared", M, N, K)
					}
					for i := range r.ready {
						if stuck == 2 || stuck == 1 && i%2 == 0 {
							r.ready[i].Store(1)
						}
					}
					Run(3, r.work)
					checkGemmResult(t, g, orig, want, scale)
				}
			}
		}
	})
}

// TestSgemmSameBitsAnyThreads: every element of C is summed by one
// goroutine in one order, so a product's bits do not depend on the thread
// count (a training run gives the same result on 1 or 16 cores;
// docs/SLURM.md relies on it). The shapes reach the blocked path's column
// split, several K slices, the dW-style row split and the few-row path.
func TestSgemmSameBitsAnyThreads(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	rng := rand.New(rand.NewPCG(21, 22))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = rng.Float32()*2 - 1
		}
		return s
	}
	for _, sh := range []struct{ m, n, k int }{{37, 131, 1100}, {200, 70, 300}, {3, 500, 700}, {13, 1030, 1157}, {1100, 40, 96}} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := tr[0], tr[1]
			lda, ldb := sh.k, sh.n
			if ta {
				lda = sh.m
			}
			if tb {
				ldb = sh.k
			}
			A, B, C0 := fill(sh.m*sh.k), fill(sh.k*sh.n), fill(sh.m*sh.n)
			var want []float32
			for _, th := range []int{1, 2, 3, 4} {
				SetThreads(th)
				C := append([]float32(nil), C0...)
				Sgemm(ta, tb, sh.m, sh.n, sh.k, 1, A, lda, B, ldb, 0.5, C, sh.n)
				if want == nil {
					want = C
					continue
				}
				for i := range C {
					if math.Float32bits(C[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%dx%dx%d transA=%v transB=%v: %d threads differ from 1 at %d: %g vs %g", sh.m, sh.n, sh.k, ta, tb, th, i, C[i], want[i])
					}
				}
			}
		}
	}
}
