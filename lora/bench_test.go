package lora

import (
	"fmt"
	"testing"
	"time"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// BenchmarkLinear measures one forward+backward of a frozen linear at GPT-2
// shapes (n = 1024 rows, r = 8), plain and with an adapter, so the LoRA
// overhead is the ratio of the two lines (dx is computed, W0 is frozen).
func BenchmarkLinear(b *testing.B) {
	const n, r = 1024, 8
	for _, shape := range []struct{ in, out int }{{768, 768}, {768, 2304}} {
		for _, kind := range []string{"plain", "lora", "dora"} {
			b.Run(fmt.Sprintf("%dx%d/%s", shape.in, shape.out, kind), func(b *testing.B) {
				rng := testutil.NewRand(1)
				l := newLinear(rng, shape.out, shape.in, true)
				if kind != "plain" {
					randomAdapter(rng, l, r, 16, kind == "dora")
				}
				x := testutil.RandN(rng, n*shape.in, 1)
				y := make([]float32, n*shape.out)
				dy := testutil.RandN(rng, n*shape.out, 1)
				dx := make([]float32, n*shape.in)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					l.Forward(x, y, n)
					l.Backward(x, dy, dx, n)
				}
				flops := 2 * 2 * float64(n*shape.in*shape.out) // base forward + dx
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "baseGFLOP/s")
			})
		}
	}
}

var _ nn.Delta = (*Adapter)(nil)

// BenchmarkOverhead times, interleaved in one loop so that machine load hits
// both alike, the frozen linear's own forward+backward and the adapter's
// extra work on the same layer, and reports the ratio as overhead-%.
func BenchmarkOverhead(b *testing.B) {
	const n, r = 1024, 8
	for _, shape := range []struct{ in, out int }{{768, 768}, {768, 2304}} {
		for _, kind := range []string{"lora", "dora"} {
			b.Run(fmt.Sprintf("%dx%d/%s", shape.in, shape.out, kind), func(b *testing.B) {
				rng := testutil.NewRand(1)
				l := newLinear(rng, shape.out, shape.in, true)
				a := randomAdapter(rng, l, r, 16, kind == "dora")
				l.Delta = nil
				x := testutil.RandN(rng, n*shape.in, 1)
				y := make([]float32, n*shape.out)
				dy := testutil.RandN(rng, n*shape.out, 1)
				dx := make([]float32, n*shape.in)
				var base, extra time.Duration
				for b.Loop() {
					t0 := time.Now()
					l.Forward(x, y, n)
					l.Backward(x, dy, dx, n)
					t1 := time.Now()
					a.Forward(x, y, n)
					a.Backward(x, dy, dx, n)
					extra += time.Since(t1)
					base += t1.Sub(t0)
				}
				b.ReportMetric(100*extra.Seconds()/base.Seconds(), "overhead-%")
			})
		}
	}
}

// BenchmarkThinGEMM compares the row-streaming rank-r products of thin.go
// with kernels.Sgemm on the same shapes (t = x·Aᵀ, n 1024, in 768, r 8).
func BenchmarkThinGEMM(b *testing.B) {
	const n, in, r = 1024, 768, 8
	rng := testutil.NewRand(1)
	x, A := testutil.RandN(rng, n*in, 1), testutil.RandN(rng, r*in, 1)
	t := make([]float32, n*r)
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			rowsDot(t, 1, x, A, n, r, in)
		}
	})
	b.Run("sgemm", func(b *testing.B) {
		for b.Loop() {
			kernels.Sgemm(false, true, n, r, in, 1, x, in, A, in, 0, t, r)
		}
	})
}
