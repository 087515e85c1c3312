package nn

import (
	"fmt"
	"math"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
	"github.com/golora/golora/tensor"
)

// TestLinearBackwardSet checks that BackwardSet overwrites whatever dx
// held (NaN here) with what Backward adds to zeros, and accumulates DW and
// DB the same: plain float32, with an additive delta (dx cleared first),
// and with a BF16 weight.
func TestLinearBackwardSet(t *testing.T) {
	const n, in, out, r = 5, 37, 19, 3
	rng := tu.NewRand(21)
	w := tu.RandN(rng, out*in, 1)
	x, dy := tu.RandN(rng, n*in, 1), tu.RandN(rng, n*out, 1)
	delta := func() Delta {
		return &loraDelta{in: in, out: out, r: r, s: 0.5, A: tu.RandN(tu.NewRand(3), r*in, 1), B: tu.RandN(tu.NewRand(4), out*r, 1),
			dA: make([]float32, r*in), dB: make([]float32, out*r)}
	}
	for _, kind := range []string{"f32", "delta", "bf16"} {
		t.Run(kind, func(t *testing.T) {
			mk := func() *Linear {
				l := &Linear{W: tensor.From(append([]float32(nil), w...), out, in), B: tensor.New(out), DB: tensor.New(out)}
				switch kind {
				case "f32":
					l.DW = tensor.New(out, in)
				case "delta":
					l.Delta = delta()
					l.Delta.Forward(x, make([]float32, n*out), n)
				case "bf16":
					h := make([]uint16, len(w))
					for i, v := range w {
						h[i] = tensor.F32ToBF16(v)
					}
					l.W = tensor.NewHalf(tensor.BF16, h, out, in)
				}
				return l
			}
			acc, set := mk(), mk()
			dxAcc, dxSet := make([]float32, n*in), make([]float32, n*in)
			for i := range dxSet {
				dxSet[i] = float32(math.NaN())
			}
			acc.Backward(x, dy, dxAcc, n)
			set.BackwardSet(x, dy, dxSet, n)
			tu.AllClose(t, fmt.Sprint(kind, " dx"), dxSet, tu.To64(dxAcc), 0, 0)
			tu.AllClose(t, fmt.Sprint(kind, " DB"), set.DB.Data, tu.To64(acc.DB.Data), 0, 0)
			if acc.DW != nil {
				tu.AllClose(t, fmt.Sprint(kind, " DW"), set.DW.Data, tu.To64(acc.DW.Data), 0, 0)
			}
		})
	}
}
