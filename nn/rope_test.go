package nn

import (
	"fmt"
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
