package nn

import (
	"fmt"
	"math"
	"sync"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

func TestRoPE(t *testing.T) {
	tests := []struct {
		T, H, D, pos0, maxPos int
		theta                 float64
	}{
		{1, 1, 2, 0, 1, 10000},
		{3, 2, 16, 0, 16, 10000},
		{17, 2, 32, 5, 8, 10000}, // grows the table past maxPos
		{1, 4, 128, 1000, 2048, 1e6},
		{63, 1, 8, 0, 64, 500000},
	}
	for _, tc := range tests {
		for _, il := range []bool{false, true} {
			t.Run(fmt.Sprintf("T%dH%dD%dpos%d/interleaved=%v", tc.T, tc.H, tc.D, tc.pos0, il), func(t *testing.T) {
				r := tu.NewRand(uint64(tc.T*tc.D + tc.pos0))
				n := tc.T * tc.H * tc.D
				x := tu.RandN(r, n, 1)
				rope := NewRoPE(tc.D, tc.maxPos, tc.theta, il)
				y := clone(x)
				rope.Forward(y, tc.T, tc.H, tc.pos0)
				x64 := tu.To64(x)
				// Angles up to ~1000 rad are rounded to float32 in the table
				// (as HF does), so allow a little more than the kernels' 1e-5.
				tu.AllClose(t, "forward", y, rope64(x64, tc.T, tc.H, tc.D, tc.pos0, tc.theta, il), 1e-5, 1e-5)

				dout := tu.RandN(r, n, 1)
				dx := clone(dout)
				rope.Backward(dx, tc.T, tc.H, tc.pos0)
				f := tu.NumGrad(func(p []float64) float64 {
					return dotLoss(rope64(p, tc.T, tc.H, tc.D, tc.pos0, tc.theta, il), tu.To64(dout))
				}, x64, fdStep)
				tu.GradClose(t, "backward", dx, f, 1e-5, 1e-6)
			})
		}
	}
}

// A prefill then a token-by-token decode must rotate exactly like one call.
func TestRoPEIncremental(t *testing.T) {
	const T, H, D = 20, 2, 16
	r := tu.NewRand(1)
	x := tu.RandN(r, T*H*D, 1)
	whole := clone(x)
	NewRoPE(D, T, 10000, false).Forward(whole, T, H, 0)
	rope := NewRoPE(D, 4, 10000, false)
	parts := clone(x)
	rope.Forward(parts[:8*H*D], 8, H, 0)
	var wg sync.WaitGroup // concurrent growth must be safe
	for t0 := 8; t0 < T; t0++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rope.Forward(parts[t0*H*D:(t0+1)*H*D], 1, H, t0)
		}()
	}
	wg.Wait()
	tu.AllClose(t, "incremental", parts, tu.To64(whole), 0, 0)
}

// ropeFreqs64 rotates the first 2·len(inv) dimensions of each head of
// stride S (rotate_half pairs) by position·inv[j], times scale; the rest of
// the head passes through.
func ropeFreqs64(x []float64, T, H, S int, inv []float64, scale float64, pos0 int) []float64 {
	y := append([]float64(nil), x...)
	half := len(inv)
	for t := 0; t < T; t++ {
		for h := 0; h < H; h++ {
			v := y[(t*H+h)*S:]
			for j, f := range inv {
				a := float64(pos0+t) * f
				c, s := math.Cos(a)*scale, math.Sin(a)*scale
				lo, hi := v[j], v[j+half]
				v[j], v[j+half] = lo*c-hi*s, hi*c+lo*s
			}
		}
	}
	return y
}

// TestRoPEFreqs: explicit frequencies with a cos/sin factor (YaRN,
// LongRoPE) and partial rotation (HeadSize > D), forward against float64
// and backward against finite differences.
func TestRoPEFreqs(t *testing.T) {
	for _, tc := range []struct {
		T, H, S, pos0 int
		inv           []float64
		scale         float64
	}{
		{5, 2, 8, 0, []float64{1, 0.3, 0.05, 0.001}, 1.2},  // whole head
		{7, 3, 12, 9, []float64{0.9, 0.2, 0.01, 0.004}, 1}, // 8 of 12 dimensions rotate
		{3, 1, 10, 2, []float64{0.5, 0.25, 0.125}, 0.9},    // 6 of 10
	} {
		t.Run(fmt.Sprintf("S%d/D%d", tc.S, 2*len(tc.inv)), func(t *testing.T) {
			rp := NewRoPEFreqs(tc.inv, tc.scale, 4, false)
			if tc.S != rp.D {
				rp.HeadSize = tc.S
			}
			r := tu.NewRand(uint64(tc.S))
			n := tc.T * tc.H * tc.S
			x := tu.RandN(r, n, 1)
			y := clone(x)
			rp.Forward(y, tc.T, tc.H, tc.pos0)
			x64 := tu.To64(x)
			tu.AllClose(t, "forward", y, ropeFreqs64(x64, tc.T, tc.H, tc.S, tc.inv, tc.scale, tc.pos0), 1e-5, 1e-6)
			dout := tu.RandN(r, n, 1)
			dx := clone(dout)
			rp.Backward(dx, tc.T, tc.H, tc.pos0)
			f := tu.NumGrad(func(p []float64) float64 {
				return dotLoss(ropeFreqs64(p, tc.T, tc.H, tc.S, tc.inv, tc.scale, tc.pos0), tu.To64(dout))
			}, x64, fdStep)
			tu.GradClose(t, "backward", dx, f, 1e-5, 1e-6)
		})
	}
}
