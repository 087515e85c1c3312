package lora

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/kernels"
)

// TestRoutedGroupsExact: a routed forward over many adapters (wide enough
// that the groups run side by side on the workers) gives every row exactly
// the bits of that row forwarded alone through its adapter, as a serving
// step must (a batched request's tokens equal its tokens alone).
func TestRoutedGroupsExact(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	const in, out, n = 256, 384, 16
	names := []string{"a", "b", "c", "d", "e", "f"}
	route := []int{3, 0, -1, 5, 1, 1, 2, 4, 0, 5, -1, 3, 3, 2, 1, 0}
	if n*(in+out) < minGroupParallel {
		t.Fatal("the layer is too small to run its groups in parallel")
	}
	ts := []Target{{Name: "mlp.up_proj", L: newLinear(testutil.NewRand(3), out, in, true)}}
	m := New(ts, 0)
	for i, name := range names {
		if err := m.Add(name, allLinear(nil), "false", uint64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	// The deltas alone (Set.Forward onto a given y): the base product's
	// bits depend on the rows sharing it, which is model's business.
	s := m.Layer("mlp.up_proj")
	x := testutil.RandN(testutil.NewRand(8), n*in, 1)
	y0 := testutil.RandN(testutil.NewRand(9), n*out, 1)
	for _, dora := range []bool{false, true} {
		if dora {
			for i, name := range names[:3] { // a DoRA adapter next to plain ones
				name := name + "-dora"
				cfg := allLinear(func(c *Config) { c.UseDoRA = true })
				if err := m.Add(name, cfg, "false", uint64(20+i)); err != nil {
					t.Fatal(err)
				}
				names[2*i] = name
			}
		}
		for _, th := range []int{1, 2} {
			kernels.SetThreads(th)
			y := routedForward(t, m, s, names, route, x, y0)
			checkRowsAlone(t, fmt.Sprintf("%v: dora %v, threads %d", names, dora, th), m, s, names, route, x, y0, y)
		}
	}
}

// TestGatheredRowsExact: frozen plain adapters (rank 8 or 3, one with
// lora_bias, one with dropout, off outside training) go through the one
// gathered kernel call, trainable and DoRA ones through their groups, in
// one routed forward (a frozen one drawing dropout in training too);
// every row has exactly the bits of its row forwarded alone through its
// adapter, with one worker or rows split over two, on a layer wide enough
// for the split and on one whose widths leave tails.
func TestGatheredRowsExact(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	route := []int{3, 0, -1, 5, 1, 1, 2, 4, 0, 5, -1, 3, 0, 2, 1, 0}
	route = append(route, slices.Concat(route[1:], route[:1])...)
	n := len(route)
	for i, sh := range [][2]int{{1000, 1100}, {37, 70}} {
		in, out := sh[0], sh[1]
		if i == 0 && n*(in+out) < minParallel {
			t.Fatal("the layer is too small to split its rows over the workers")
		}
		ts := []Target{{Name: "mlp.up_proj", L: newLinear(testutil.NewRand(3), out, in, true)}}
		m := New(ts, 0)
		kinds := []struct {
			name   string
			cfg    func(*Config)
			frozen bool
			want   uint8
		}{
			{"plain", func(c *Config) { c.R = 8 }, true, gathered},
			{"bias", func(c *Config) { c.R, c.LoraBias = 8, true }, true, gathered},
			{"rank3", func(c *Config) { c.R = 3 }, true, gathered},
			{"trainable", nil, false, byGroup},
			{"dora", func(c *Config) { c.UseDoRA = true }, true, byGroup},
			{"dropout", func(c *Config) { c.LoraDropout = 0.5 }, true, gathered}, // not training
		}
		var names []string
		for i, k := range kinds {
			if err := m.Add(k.name, allLinear(k.cfg), "false", uint64(10+i)); err != nil {
				t.Fatal(err)
			}
			if k.frozen {
				m.Freeze(k.name)
			}
			names = append(names, k.name)
		}
		s := m.Layer("mlp.up_proj")
		if a := s.Adapter("bias"); a.Bias != nil { // lora_bias starts at zero
			copy(a.Bias.Data, testutil.RandN(testutil.NewRand(4), out, 1))
		}
		x := testutil.RandN(testutil.NewRand(8), n*in, 1)
		y0 := testutil.RandN(testutil.NewRand(9), n*out, 1)
		for _, th := range []int{1, 2} {
			kernels.SetThreads(th)
			y := routedForward(t, m, s, names, route, x, y0)
			for k, kind := range kinds {
				if s.kind[k] != kind.want {
					t.Fatalf("%s: applied as %d, want %d", kind.name, s.kind[k], kind.want)
				}
			}
			checkRowsAlone(t, fmt.Sprintf("%d→%d, threads %d", in, out, th), m, s, names, route, x, y0, y)
		}
		m.SetTrain(true)
		routedForward(t, m, s, names, route, x, y0)
		if s.kind[0] != gathered || s.kind[5] != byGroup {
			t.Fatalf("training: plain applied as %d, dropout as %d", s.kind[0], s.kind[5])
		}
	}
}

// routedForward returns y0 plus s's forward of x with every adapter of
// names active and row i routed to names[route[i]].
func routedForward(t *testing.T, m *Model, s *Set, names []string, route []int, x, y0 []float32) []float32 {
	t.Helper()
	if err := m.SetActive(names...); err != nil {
		t.Fatal(err)
	}
	m.SetRows(route)
	y := slices.Clone(y0)
	s.Forward(x, y, len(route))
	return y
}

// checkRowsAlone fails unless every row i of y, a routed forward of x
// onto y0 through s, has exactly the bits of that row forwarded alone
// through adapter names[route[i]] (the base alone for -1).
func checkRowsAlone(t *testing.T, what string, m *Model, s *Set, names []string, route []int, x, y0, y []float32) {
	t.Helper()
	in, out := s.Linear.In(), s.Linear.Out()
	m.SetRows(nil)
	one := make([]float32, out)
	for i, k := range route {
		var active []string
		if k >= 0 {
			active = []string{names[k]}
		}
		if err := m.SetActive(active...); err != nil {
			t.Fatal(err)
		}
		copy(one, y0[i*out:(i+1)*out])
		s.Forward(x[i*in:(i+1)*in], one, 1)
		for o, v := range one {
			if got := y[i*out+o]; math.Float32bits(got) != math.Float32bits(v) {
				t.Fatalf("%s: row %d (adapter %d) [%d] = %g routed, %g alone", what, i, k, o, got, v)
			}
		}
	}
}

// TestCachedBTransposeFollowsB: Bᵀ is cached between forwards; a B changed
// in place (an optimizer step) or replaced must not leave it stale, nor
// one replaced after Freeze or changed after EnableGrad.
func TestCachedBTransposeFollowsB(t *testing.T) {
	rng := testutil.NewRand(4)
	l := newLinear(rng, 40, 24, false)
	a := randomAdapter(rng, l, 4, 8, false)
	x := testutil.RandN(rng, 3*24, 1)
	fresh := func() []float32 { // the same weights, nothing cached
		b := NewAdapter("default", "m", l, 4, 8, false, 7)
		copy(b.A.Data, a.A.Data)
		copy(b.B.Data, a.B.Data)
		y := make([]float32, 3*40)
		b.Forward(x, y, 3)
		return y
	}
	for step, change := range []func(){
		func() {},
		func() { a.B.Data[37] += 0.25 }, // in place, one element
		func() { a.B = a.B.Clone(); a.B.Data[0] = -1 }, // a new tensor
		a.Freeze, // frozen: B compared by identity only
		func() { a.B = a.B.Clone(); a.B.Data[1] = 2 },
		func() { a.EnableGrad(); a.B.Data[5] = 3 }, // trainable again
	} {
		change()
		y := make([]float32, 3*40)
		a.Forward(x, y, 3)
		if want := fresh(); !slices.Equal(y, want) {
			t.Fatalf("change %d: forward with the cached Bᵀ differs from a fresh adapter", step)
		}
	}
}

// BenchmarkRoutedForward: one decode row for each of 8 rank-8 adapters on
// GPT-2's c_fc shape (768 → 3072), the LoRA part of a serving step's layer,
// with trainable and frozen adapters.
func BenchmarkRoutedForward(b *testing.B) {
	for _, frozen := range []bool{false, true} {
		b.Run(fmt.Sprintf("frozen=%v", frozen), func(b *testing.B) {
			const in, out, n = 768, 3072, 8
			ts := []Target{{Name: "mlp.c_fc", L: newLinear(testutil.NewRand(3), out, in, true)}}
			m := New(ts, 0)
			var names []string
			for i := range n {
				names = append(names, fmt.Sprint("a", i))
				cfg := allLinear(func(c *Config) { c.R = 8 })
				if err := m.Add(names[i], cfg, "false", uint64(i+1)); err != nil {
					b.Fatal(err)
				}
				if frozen {
					m.Freeze(names[i])
				}
			}
			if err := m.SetActive(names...); err != nil {
				b.Fatal(err)
			}
			m.SetRows([]int{0, 1, 2, 3, 4, 5, 6, 7})
			s := m.Layer("mlp.c_fc")
			x := testutil.RandN(testutil.NewRand(8), n*in, 1)
			y := make([]float32, n*out)
			for b.Loop() {
				s.Forward(x, y, n)
			}
		})
	}
}

// BenchmarkRoutedStep: the linears of one serving decode step over a
// stories260K-shaped model (5 layers of q, k, v, o, gate, up, down at
// width 64, rank 8 on all 35), 8 rows on the base alone or spread over 1,
// 8 or 64 frozen adapters, with the row-exact base products: the serving
// bench's adapters group in miniature. The contenders alternate inside
// each iteration, so load hits them alike; it reports each one's fastest
// step and the throughput ratios to one adapter (x8, x64), as the serving
// bench does.
func BenchmarkRoutedStep(b *testing.B) {
	const dim, hidden, kv, layers, n = 64, 172, 32, 5, 8
	shapes := [][2]int{{dim, dim}, {dim, kv}, {dim, kv}, {dim, dim}, {dim, hidden}, {dim, hidden}, {hidden, dim}}
	rng := testutil.NewRand(3)
	var ts []Target
	for l := range layers {
		for j, s := range shapes {
			ts = append(ts, Target{Name: fmt.Sprintf("layers.%d.m%d", l, j), L: newLinear(rng, s[1], s[0], false)})
		}
	}
	m := New(ts, 0)
	var names []string
	for i := range 64 {
		names = append(names, fmt.Sprint("a", i))
		if err := m.Add(names[i], allLinear(func(c *Config) { c.R = 8 }), "false", uint64(i+1)); err != nil {
			b.Fatal(err)
		}
		m.Freeze(names[i])
	}
	x := testutil.RandN(rng, n*hidden, 1)
	y := make([]float32, n*hidden)
	counts := []int{0, 1, 8, 64}
	best := make([]time.Duration, len(counts))
	for i := range best {
		best[i] = time.Hour
	}
	rows := make([]int, n)
	for b.Loop() {
		for c, k := range counts {
			if err := m.SetActive(names[:k]...); err != nil {
				b.Fatal(err)
			}
			for i := range rows {
				rows[i] = -1
				if k > 0 {
					rows[i] = i % k
				}
			}
			m.SetRows(rows)
			t0 := time.Now()
			for _, t := range ts {
				in, out := t.L.In(), t.L.Out()
				kernels.SgemmRows(n, out, in, x, in, t.L.W.Data, in, y, out)
				m.Layer(t.Name).Forward(x, y, n)
			}
			best[c] = min(best[c], time.Since(t0))
		}
	}
	m.SetRows(nil)
	for c, k := range counts {
		b.ReportMetric(float64(best[c].Nanoseconds()), fmt.Sprintf("ns-%d", k))
	}
	b.ReportMetric(best[1].Seconds()/best[2].Seconds(), "x8")
	b.ReportMetric(best[1].Seconds()/best[3].Seconds(), "x64")
}
