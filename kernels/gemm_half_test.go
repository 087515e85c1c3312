package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/golora/golora/internal/cputime"
	"github.com/golora/golora/tensor"
)

// halfPaths runs f with every GemmHalf path this CPU has: each
// implementation of forEachImpl, and on AVX512_BF16 CPUs the pair kernel
// (even where it is not chosen for speed) as well as the widening one, and
// on AMX CPUs the tile path.
func halfPaths(t *testing.T, f func(t *testing.T)) {
	forEachImpl(t, func(t *testing.T) {
		saved, savedAMX := geomBF16, useAMX
		defer func() { geomBF16, useAMX = saved, savedAMX }()
		geomBF16, useAMX = nil, false
		t.Run("widen", f)
		if geomBF16Forced != nil && useAVX512 {
			geomBF16 = geomBF16Forced
			t.Run("vdpbf16ps", f)
		}
		if amxAvailable && useAVX512 {
			useAMX = true
			t.Run("amx", f)
		}
	})
}

func randHalf(rng *rand.Rand, dt tensor.DType, n int) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		h[i] = dt.Narrow(rng.Float32()*2 - 1)
	}
	return h
}

// naiveHalf is GemmHalf in float64 from the rounded operands: A rounded to
// bf16 for a BF16 B, B widened exactly.
func naiveHalf(dt tensor.DType, transB bool, M, N, K int, A []float32, lda int, B []uint16, ldb int, beta float32, C []float32, ldc int) []float64 {
	out := make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			s := 0.0
			for p := 0; p < K; p++ {
				a := A[i*lda+p]
				if dt == tensor.BF16 {
					a = tensor.BF16ToF32(tensor.F32ToBF16(a))
				}
				var b uint16
				if transB {
					b = B[j*ldb+p]
				} else {
					b = B[p*ldb+j]
				}
				s += float64(a) * float64(dt.Widen(b))
			}
			if beta != 0 {
				s += float64(beta) * float64(C[i*ldc+j])
			}
			out[i*N+j] = s
		}
	}
	return out
}

// TestGemmHalf checks every path against float64 on odd shapes (edge
// tiles, odd depths, the gemv and tiny paths), both products a frozen
// base needs, both dtypes, with padding strides and guard values.
func TestGemmHalf(t *testing.T) {
	// Three of the last four have the depths and widths the AMX kernels read in
	// place (multiples of 32 and 64), next to partial blocks; the last has
	// more rows than an AMX row block.
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {4, 37, 129}, {5, 33, 17}, {13, 65, 31}, {25, 97, 300}, {37, 70, 513}, {130, 47, 255}, {64, 1600, 40}, {33, 96, 64}, {70, 130, 256}, {33, 128, 512}, {300, 64, 33}}
	// Every path draws the same operands, so the float64 references are
	// computed once.
	wants := map[string][]float64{}
	halfPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 9))
		for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
			for _, transB := range []bool{true, false} {
				for _, s := range shapes {
					M, N, K := s[0], s[1], s[2]
					for _, beta := range []float32{0, 1, 0.5} {
						name := fmt.Sprintf("%v/transB=%v/%dx%dx%d/beta=%v", dt, transB, M, N, K, beta)
						lda, ldc := K+3, N+1
						ldb := N + 2
						br := K
						if transB {
							ldb, br = K+2, N
						}
						_, A := guarded(rng, (M-1)*lda+K, 0)
						B := randHalf(rng, dt, (br-1)*ldb+max(K, N)+2)
						cbuf, C := guarded(rng, (M-1)*ldc+N, 1)
						want, ok := wants[name]
						if !ok {
							want = naiveHalf(dt, transB, M, N, K, A, lda, B, ldb, beta, C, ldc)
							wants[name] = want
						}
						GemmHalf(dt, transB, M, N, K, A, lda, B, ldb, beta, C, ldc)
						checkGuards(t, name, cbuf, len(C), 1)
						for i := 0; i < M; i++ {
							for j := 0; j < N; j++ {
								got := float64(C[i*ldc+j])
								if e := relErr(got, want[i*N+j], math.Sqrt(float64(K))+1); e > 2e-6 {
									t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i, j, got, want[i*N+j])
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestGemmHalfMatchesSgemm compares with Sgemm on the widened weight and
// (BF16) rounded activations, on a transformer-like shape with several K
// slices and column chunks, threaded.
func TestGemmHalfMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	M, N, K := 67, 1601, 517
	halfPaths(t, func(t *testing.T) {
		for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
			A := make([]float32, M*K)
			for i := range A {
				A[i] = rng.Float32()*2 - 1
			}
			W := randHalf(rng, dt, N*K)
			wf := make([]float32, len(W))
			for i, h := range W {
				wf[i] = dt.Widen(h)
			}
			ar := append([]float32(nil), A...)
			if dt == tensor.BF16 {
				roundBF16(ar)
			}
			want := make([]float32, M*N)
			got := make([]float32, M*N)
			Sgemm(false, true, M, N, K, 1, ar, K, wf, K, 0, want, N)
			GemmHalf(dt, true, M, N, K, A, K, W, K, 0, got, N)
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-4 {
					t.Fatalf("%v forward [%d]: %v, Sgemm %v", dt, i, got[i], want[i])
				}
			}
			// dx = dy·W: dy (M, N), W (N, K).
			dy := make([]float32, M*N)
			for i := range dy {
				dy[i] = rng.Float32()*2 - 1
			}
			dyr := append([]float32(nil), dy...)
			if dt == tensor.BF16 {
				roundBF16(dyr)
			}
			want = make([]float32, M*K)
			got = make([]float32, M*K)
			Sgemm(false, false, M, K, N, 1, dyr, N, wf, K, 0, want, K)
			GemmHalf(dt, false, M, K, N, dy, N, W, K, 0, got, K)
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-4 {
					t.Fatalf("%v backward [%d]: %v, Sgemm %v", dt, i, got[i], want[i])
				}
			}
		}
	})
}

// TestDotBF16Pairs checks the decode dot product of four weight rows
// (VDPBF16PS where the CPU has it) against float64 on lengths around its
// 32- and 64-value steps, and that a row's sum has the same bits whatever
// rows share the call.
func TestDotBF16Pairs(t *testing.T) { forEachImpl(t, testDotBF16Pairs) }

func testDotBF16Pairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 31, 32, 33, 63, 64, 65, 96, 127, 128, 129, 160, 300, 1024} {
		var w [4][]uint16
		for r := range w {
			w[r] = randHalf(rng, tensor.BF16, n)
		}
		x := randHalf(rng, tensor.BF16, n)
		var got [4]float32
		dotBF16Pairs4(&w, x, &got)
		for r := range w {
			want := 0.0
			for i := range x {
				want += float64(tensor.BF16ToF32(w[r][i])) * float64(tensor.BF16ToF32(x[i]))
			}
			if e := relErr(float64(got[r]), want, math.Sqrt(float64(n))+1); e > 2e-6 {
				t.Fatalf("n=%d row %d: %v, want %v", n, r, got[r], want)
			}
			alone := [4][]uint16{w[r], w[r], w[r], w[r]}
			var one [4]float32
			dotBF16Pairs4(&alone, x, &one)
			if math.Float32bits(one[r]) != math.Float32bits(got[r]) {
				t.Fatalf("n=%d row %d: %v alone, %v with other rows", n, r, one[r], got[r])
			}
		}
	}
}

func TestRoundBF16(t *testing.T) {
	for _, v := range []float32{0, 1, -1.0000001, 3.1415927, 1e-40, 65504, float32(math.Inf(-1)), 1.00390625, 1.01171875} {
		x := []float32{v}
		roundBF16(x)
		if want := tensor.BF16ToF32(tensor.F32ToBF16(v)); x[0] != want {
			t.Errorf("roundBF16(%v) = %v, want %v", v, x[0], want)
		}
	}
	x := []float32{float32(math.NaN())}
	roundBF16(x)
	if !math.IsNaN(float64(x[0])) {
		t.Errorf("roundBF16(NaN) = %v", x[0])
	}
}

func TestWidenHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	forEachImpl(t, func(t *testing.T) {
		for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
			for _, n := range []int{0, 1, 15, 16, 33, 100} {
				h := randHalf(rng, dt, n)
				h = append(h, 0x7c00, 0x0001, 0x8000) // inf (f16), subnormal, -0
				got := make([]float32, len(h))
				widenHalf(dt, got, h)
				for i := range h {
					if w := dt.Widen(h[i]); math.Float32bits(got[i]) != math.Float32bits(w) {
						t.Fatalf("%v n=%d [%d]: %v, want %v", dt, n, i, got[i], w)
					}
				}
				x := make([]float32, len(h))
				for i := range x {
					x[i] = rng.Float32()
				}
				want := 0.0
				for i := range h {
					want += float64(dt.Widen(h[i])) * float64(x[i])
				}
				if got := dotHalf(dt, h, x); relErr(float64(got), want, float64(len(h))+1) > 1e-6 && !math.IsInf(want, 0) {
					t.Fatalf("%v dot n=%d: %v, want %v", dt, n, got, want)
				}
			}
		}
	})
}

// BenchmarkGemmHalf compares a GPT-2 mlp-up forward and its dx product
// with a BF16 weight against Sgemm on the float32 one, at the training
// bench's 64 rows and at 1024. Besides wall-clock GFLOP/s it reports
// GFLOP per CPU-second, steadier on a shared machine.
func BenchmarkGemmHalf(b *testing.B) {
	for _, M := range []int{64, 1024} {
		b.Run(fmt.Sprint("m=", M), func(b *testing.B) { benchGemmHalf(b, M) })
	}
}

func benchGemmHalf(b *testing.B, M int) {
	N, K := 3072, 768
	rng := rand.New(rand.NewPCG(1, 1))
	A := make([]float32, M*K)
	for i := range A {
		A[i] = rng.Float32()
	}
	dy := make([]float32, M*N)
	W := randHalf(rng, tensor.BF16, N*K)
	wf := make([]float32, N*K)
	for i, h := range W {
		wf[i] = tensor.BF16ToF32(h)
	}
	C := make([]float32, M*N)
	dx := make([]float32, M*K)
	flops := float64(2 * M * N * K)
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			cpu0 := cputime.Process()
			for range b.N {
				f()
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
			}
		})
	}
	run("fwd/f32", func() { Sgemm(false, true, M, N, K, 1, A, K, wf, K, 0, C, N) })
	run("fwd/bf16", func() { GemmHalf(tensor.BF16, true, M, N, K, A, K, W, K, 0, C, N) })
	run("dx/f32", func() { Sgemm(false, false, M, K, N, 1, dy, N, wf, K, 1, dx, K) })
	run("dx/bf16", func() { GemmHalf(tensor.BF16, false, M, K, N, dy, N, W, K, 1, dx, K) })
	flops = float64(2 * N * K)
	run("gemv/f32", func() { Sgemm(false, true, 1, N, K, 1, A, K, wf, K, 0, C, N) })
	run("gemv/bf16", func() { GemmHalf(tensor.BF16, true, 1, N, K, A, K, W, K, 0, C, N) })
}

// TestHalfKernel checks the name the benchmarks report against the
// selection: AMX for BF16 where it is on, never for F16.
func TestHalfKernel(t *testing.T) {
	if k := HalfKernel(tensor.F32); k != "" {
		t.Errorf("F32: %q", k)
	}
	if k := HalfKernel(tensor.BF16); (k == "amx") != useAMX {
		t.Errorf("BF16: %q with useAMX %v", k, useAMX)
	}
	if k := HalfKernel(tensor.F16); k == "amx" || k == "" {
		t.Errorf("F16: %q", k)
	}
}

// TestNoAMXEnv runs this test binary again with GOLORA_NOAMX=1: the BF16
// products must then leave AMX for the previous path.
func TestNoAMXEnv(t *testing.T) {
	if os.Getenv("GOLORA_NOAMX_CHILD") == "1" {
		if useAMX || HalfKernel(tensor.BF16) == "amx" {
			t.Fatal("GOLORA_NOAMX=1 left AMX on")
		}
		return
	}
	if !amxAvailable {
		t.Skip("no AMX on this CPU")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoAMXEnv$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GOLORA_NOAMX=1", "GOLORA_NOAMX_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
