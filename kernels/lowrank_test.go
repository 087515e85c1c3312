package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDotNAxpyN checks that DotN and AxpyN give the bits of the Dot and
// Axpy calls they replace, on odd shapes, zeros in p included (Axpy skips
// them), with guards around the outputs.
func TestDotNAxpyN(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, w := range []int{1, 7, 8, 9, 33, 100, 769} {
			for _, r := range []int{1, 2, 3, 4, 8, 17} {
				name := fmt.Sprintf("w=%d/r=%d", w, r)
				_, x := guarded(rng, w, 1)
				_, m := guarded(rng, r*(w+3), 0) // rows w+3 apart for AxpyN
				bt, tt := guarded(rng, r, 1)
				DotN(tt, x, m[:r*w])
				checkGuards(t, "DotN", bt, r, 1)
				for j := range tt {
					if want := Dot(x, m[j*w:(j+1)*w]); tt[j] != want {
						t.Fatalf("DotN %s [%d]: %v, Dot %v", name, j, tt[j], want)
					}
				}
				tt[r/2] = 0
				by, y := guarded(rng, w, 1)
				want := append([]float32(nil), y...)
				for j, pj := range tt {
					Axpy(pj, m[j*(w+3):j*(w+3)+w], want)
				}
				AxpyN(y, tt, m, w+3)
				checkGuards(t, "AxpyN", by, w, 1)
				for i := range y {
					if y[i] != want[i] {
						t.Fatalf("AxpyN %s [%d]: %v, Axpy calls %v", name, i, y[i], want[i])
					}
				}
			}
		}
	})
}
