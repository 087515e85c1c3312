package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/golora/golora/internal/cputime"
)

// BenchmarkSgemm times Sgemm at Threads() on transformer shapes (GPT-2
// small: d=768, 4d=3072, vocab 50257) and the small shapes of attention and
// decode, reporting GFLOP/s. The generic implementation runs alongside.
func BenchmarkSgemm(b *testing.B) {
	type shape struct {
		M, N, K        int
		transA, transB bool
	}
	shapes := []shape{
		{1024, 1024, 1024, false, false},
		{1024, 2304, 768, false, true}, // qkv forward, W [out,in]
		{1024, 3072, 768, false, false},
		{1024, 768, 3072, false, false},
		{768, 3072, 1024, true, false},  // dW = dyᵀ·x
		{1024, 768, 3072, false, false}, // dx = dy·W
		{256, 50257, 768, false, true},  // lm head
		{256, 50257, 768, false, false}, // lm head, W stored [in,out]
		{256, 768, 50257, false, false}, // lm head backward, dx = dlogits·W
		{1024, 768, 2304, false, false}, // qkv backward dx
		{1024, 3072, 768, false, true},  // mlp up forward
		{1024, 768, 3072, false, true},  // mlp down forward
		{1, 2304, 768, false, true},     // decode
		{64, 64, 64, false, true},       // attention scores, one head
		{64, 64, 64, false, false},      // attention · V
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, impl := range impls() {
		for _, s := range shapes {
			if impl == "generic" && s.M*s.N*s.K > 1<<30 {
				continue
			}
			name := fmt.Sprintf("%s/%dx%dx%d", impl, s.M, s.N, s.K)
			if s.transA || s.transB {
				name += fmt.Sprintf("/tA=%v,tB=%v", s.transA, s.transB)
			}
			b.Run(name, func(b *testing.B) {
				selectImpl(impl)
				defer selectImpl("")
				g := newGemm(rng, s.transA, s.transB, s.M, s.N, s.K, 1, 0, 0)
				Sgemm(g.transA, g.transB, g.M, g.N, g.K, 1, g.A, g.lda, g.B, g.ldb, 0, g.C, g.ldc)
				cpu0 := cputime.Process()
				for b.Loop() {
					Sgemm(g.transA, g.transB, g.M, g.N, g.K, 1, g.A, g.lda, g.B, g.ldb, 0, g.C, g.ldc)
				}
				flops := 2 * float64(s.M*s.N*s.K) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
					b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}

// BenchmarkSgemmSmall compares the dispatcher with the reference loop on
// the small products of attention (T×T×D per head), where call overhead
// and packing matter: it is how smallWork was chosen.
func BenchmarkSgemmSmall(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, s := range [][3]int{{8, 8, 8}, {12, 12, 12}, {16, 16, 16}, {16, 16, 64}, {32, 32, 32}, {64, 64, 16}} {
		for _, tb := range []bool{false, true} {
			g := newGemm(rng, false, tb, s[0], s[1], s[2], 1, 0, 0)
			for _, path := range []string{"reference", "dispatch"} {
				b.Run(fmt.Sprintf("%s/%dx%dx%d/tB=%v", path, s[0], s[1], s[2], tb), func(b *testing.B) {
					for b.Loop() {
						if path == "reference" {
							sgemmGeneric(g.transA, g.transB, g.M, g.N, g.K, 1, g.A, g.lda, g.B, g.ldb, 0, g.C, g.ldc)
						} else {
							g.run(Threads())
						}
					}
					b.ReportMetric(2*float64(s[0]*s[1]*s[2])*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkSharedA is the in-process A/B of sharing packed op(A) in
// column-split products (off: aShareFloats 0, every goroutine packs all of
// op(A)).
func BenchmarkSharedA(b *testing.B) {
	defer func(v int) { aShareFloats = v }(aShareFloats)
	on := aShareFloats
	benchAB(b, "shared", "own", func(v int) { aShareFloats = v * on }, [][5]int{
		{1024, 2304, 768, 1}, {1024, 768, 768, 1}, {1024, 3072, 768, 1}, {1024, 768, 3072, 1},
		{1024, 768, 2304, 0}, {1024, 768, 768, 0}, {1024, 768, 3072, 0}, {1024, 3072, 768, 0},
		{256, 50257, 768, 1},
	})
}

// BenchmarkInPlaceA is the in-process A/B of the micro-kernel reading an
// untransposed op(A) in place (kernelA) against packing it, on the
// training step's products (M, N, K, transB; the step's A is never
// transposed under LoRA).
func BenchmarkInPlaceA(b *testing.B) {
	defer func(v bool) { useInPlaceA = v }(useInPlaceA)
	benchAB(b, "inplace", "packed", func(v int) { useInPlaceA = v == 1 }, [][5]int{
		{1024, 2304, 768, 1}, {1024, 768, 768, 1}, {1024, 3072, 768, 1}, {1024, 768, 3072, 1},
		{1024, 768, 2304, 0}, {1024, 768, 768, 0}, {1024, 768, 3072, 0}, {1024, 3072, 768, 0},
		{512, 50257, 768, 1}, {512, 768, 50257, 0}, {1024, 2048, 768, 1}, {1024, 768, 2048, 0},
	})
}

// benchAB alternates, call by call, Sgemm with set(1) (on) and set(0) (off)
// on each shape, so load from other processes hits both alike, and reports
// each side's GFLOP/s, the ratio of their total times (on/off) and of their
// best calls.
func benchAB(b *testing.B, on, off string, set func(int), shapes [][5]int) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, s := range shapes {
		b.Run(fmt.Sprintf("%dx%dx%d/tB=%v", s[0], s[1], s[2], s[3] == 1), func(b *testing.B) {
			g := newGemm(rng, false, s[3] == 1, s[0], s[1], s[2], 1, 0, 0)
			var total, best [2]time.Duration
			best = [2]time.Duration{1 << 62, 1 << 62}
			for i := 0; b.Loop(); i++ {
				for k := range 2 {
					v := (i + k) % 2 // 1: on
					set(v)
					t0 := time.Now()
					Sgemm(g.transA, g.transB, g.M, g.N, g.K, 1, g.A, g.lda, g.B, g.ldb, 0, g.C, g.ldc)
					d := time.Since(t0)
					total[v] += d
					best[v] = min(best[v], d)
				}
			}
			flops := 2 * float64(s[0]*s[1]*s[2]) * float64(b.N)
			b.ReportMetric(flops/total[0].Seconds()/1e9, off+"-GFLOP/s")
			b.ReportMetric(flops/total[1].Seconds()/1e9, on+"-GFLOP/s")
			b.ReportMetric(total[1].Seconds()/total[0].Seconds(), on+"/"+off+"-time")
			b.ReportMetric(best[1].Seconds()/best[0].Seconds(), on+"/"+off+"-best")
		})
	}
}
