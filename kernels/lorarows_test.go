package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// randLoRA returns an adapter of rank r on in → out with factors in
// [-1, 1) and its Scale.
func randLoRA(rng *rand.Rand, r, in, out int, scale float32) LoRA {
	a := LoRA{A: make([]float32, r*in), BT: make([]float32, r*out), R: r, Scale: scale}
	for i := range a.A {
		a.A[i] = rng.Float32()*2 - 1
	}
	for i := range a.BT {
		a.BT[i] = rng.Float32()*2 - 1
	}
	return a
}

// TestLoRARows: on odd shapes and ranks (tails of the 8-wide loops, ranks
// over a chunk, one odd row in a pair), rows routed to three adapters of
// different ranks or to none match a float64 product, leave the unrouted
// rows and the memory around y alone, and each row has exactly the bits of
// the adapter's own forward on that row (Dot for every rank, then Axpy in
// rank order), as serving a row in a mixed batch must.
func TestLoRARows(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, sh := range [][4]int{ // in, out, and the ranks of adapters 0 and 1
			{1, 1, 1, 2}, {7, 9, 3, 1}, {8, 8, 1, 8}, {37, 70, 5, 4},
			{64, 172, 8, 8}, {172, 64, 8, 7}, {200, 33, 17, 33}, {33, 129, 64, 1},
		} {
			in, out := sh[0], sh[1]
			ads := []LoRA{randLoRA(rng, sh[2], in, out, 2), randLoRA(rng, sh[3], in, out, 0.5), randLoRA(rng, 3, in, out, 1)}
			clear(ads[2].A) // zero products: Axpy skips them (a -0 in y stays)
			route := []int{1, -1, 0, 2, 0, 1, 1, -1, 2}
			n := len(route)
			x := make([]float32, n*in)
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			buf, y := guarded(rng, n*out, 1)
			y[3*out] = float32(math.Copysign(0, -1))
			y0 := append([]float32(nil), y...)
			LoRARows(y, x, n, in, out, route, ads)
			checkGuards(t, "y", buf, n*out, 1)
			name := fmt.Sprintf("%d→%d ranks %d,%d", in, out, sh[2], sh[3])
			for i, k := range route {
				xi, got := x[i*in:(i+1)*in], y[i*out:(i+1)*out]
				want := append([]float32(nil), y0[i*out:(i+1)*out]...)
				if k < 0 {
					for o := range got {
						if math.Float32bits(got[o]) != math.Float32bits(want[o]) {
							t.Fatalf("%s: unrouted row %d changed", name, i)
						}
					}
					continue
				}
				a := ads[k]
				ref := make([]float64, out)
				var mag float64
				for j := range a.R {
					var tj float64
					for c, v := range a.A[j*in : (j+1)*in] {
						tj += float64(v) * float64(xi[c])
					}
					for o := range ref {
						ref[o] += float64(a.Scale) * tj * float64(a.BT[j*out+o])
						mag += math.Abs(tj * float64(a.BT[j*out+o]))
					}
				}
				for j := range a.R { // the adapter's forward alone
					Axpy(a.Scale*Dot(xi, a.A[j*in:(j+1)*in]), a.BT[j*out:(j+1)*out], want)
				}
				for o := range got {
					if math.Float32bits(got[o]) != math.Float32bits(want[o]) {
						t.Fatalf("%s: row %d (adapter %d) [%d] = %g, alone %g", name, i, k, o, got[o], want[o])
					}
					if e := relErr(float64(got[o])-float64(y0[i*out+o]), ref[o], mag/float64(out)+1e-30); e > 1e-5 {
						t.Fatalf("%s: row %d [%d]: delta %g, float64 %g (rel err %.3g)", name, i, o, got[o]-y0[i*out+o], ref[o], e)
					}
				}
			}
		}
	})
}

// TestLoRARowsBadInput: routes and factors that do not fit panic with what
// is wrong rather than reading out of bounds.
func TestLoRARowsBadInput(t *testing.T) {
	ads := []LoRA{randLoRA(rand.New(rand.NewPCG(1, 1)), 2, 4, 3, 1)}
	for _, c := range []struct {
		name  string
		route []int
		ads   []LoRA
	}{
		{"adapter out of range", []int{0, 1}, ads},
		{"route below -1", []int{-2, 0}, ads},
		{"short route", []int{0}, ads},
		{"short factors", []int{0, 0}, []LoRA{{A: ads[0].A[:7], BT: ads[0].BT, R: 2, Scale: 1}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			LoRARows(make([]float32, 6), make([]float32, 8), 2, 4, 3, c.route, c.ads)
		}()
	}
}

// BenchmarkLoRARows: the LoRA part of one decode step of bench serve's
// embedded model (5 layers of 7 linears at widths 64 and 172, 8 rows, rank
// 8) with the rows on one adapter or on 8, of 64 allocated adapter by
// adapter as a server loads them, the factors warm (the step alone) or
// cold (a 16 MB pass over other memory before each step). It reports the
// fastest step (what a loaded machine perturbs least) and the GB/s of
// distinct factors that step read.
func BenchmarkLoRARows(b *testing.B) {
	const rows, rank = 8, 8
	shapes := [][2]int{{64, 64}, {64, 32}, {64, 32}, {64, 64}, {64, 172}, {64, 172}, {172, 64}}
	type linear struct {
		in, out int
		ads     []LoRA
		x, y    []float32
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var ls []linear
	for range 5 {
		for _, s := range shapes {
			l := linear{in: s[0], out: s[1], x: make([]float32, rows*s[0]), y: make([]float32, rows*s[1])}
			for i := range l.x {
				l.x[i] = rng.Float32()*2 - 1
			}
			ls = append(ls, l)
		}
	}
	for range 64 {
		for i := range ls {
			ls[i].ads = append(ls[i].ads, randLoRA(rng, rank, ls[i].in, ls[i].out, 2))
		}
	}
	flush := make([]float32, 16<<20/4)
	for _, nAd := range []int{1, 8} {
		route := make([]int, rows)
		for i := range route {
			route[i] = i % nAd
		}
		bytes := 0
		for _, l := range ls {
			bytes += nAd * rank * (l.in + l.out) * 4
		}
		for _, cold := range []bool{false, true} {
			b.Run(fmt.Sprintf("adapters=%d/cold=%v", nAd, cold), func(b *testing.B) {
				fastest := time.Hour
				var s float32
				for b.Loop() {
					if cold {
						s += sum(flush)
					}
					t0 := time.Now()
					for _, l := range ls {
						LoRARows(l.y, l.x, rows, l.in, l.out, route, l.ads)
					}
					fastest = min(fastest, time.Since(t0))
				}
				b.ReportMetric(float64(fastest.Nanoseconds()), "ns/step")
				b.ReportMetric(float64(bytes)/fastest.Seconds()/1e9, "GB/s")
				_ = s
			})
		}
	}
}
