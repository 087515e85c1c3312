package lora

import (
	"fmt"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// TestThinProducts checks the row loops against float64 on odd shapes, on
// both sides of the parallel threshold.
func TestThinProducts(t *testing.T) {
	for _, c := range []struct{ n, r, w int }{{1, 1, 1}, {7, 3, 17}, {65, 8, 63}, {300, 5, 257}, {1030, 16, 129}} {
		t.Run(fmt.Sprintf("%dx%dx%d", c.n, c.r, c.w), func(t *testing.T) {
			rng := testutil.NewRand(uint64(c.n))
			x := testutil.RandN(rng, c.n*c.w, 1)
			m := testutil.RandN(rng, c.r*c.w, 1)
			tt := testutil.RandN(rng, c.n*c.r, 1)
			dot := make([]float64, c.n*c.r) // 0.5·x·mᵀ
			axpy := testutil.To64(x)        // x + 0.5·t·m
			outer := testutil.To64(m)       // m + 0.5·tᵀ·x
			for i := 0; i < c.n; i++ {
				for k := 0; k < c.r; k++ {
					for j := 0; j < c.w; j++ {
						dot[i*c.r+k] += 0.5 * float64(x[i*c.w+j]) * float64(m[k*c.w+j])
						axpy[i*c.w+j] += 0.5 * float64(tt[i*c.r+k]) * float64(m[k*c.w+j])
						outer[k*c.w+j] += 0.5 * float64(tt[i*c.r+k]) * float64(x[i*c.w+j])
					}
				}
			}
			got := make([]float32, c.n*c.r)
			rowsDot(got, 0.5, x, m, c.n, c.r, c.w)
			testutil.GradClose(t, "rowsDot", got, dot, 1e-5, 1e-6)
			y := append([]float32(nil), x...)
			rowsAxpy(y, 0.5, tt, m, c.n, c.r, c.w)
			testutil.GradClose(t, "rowsAxpy", y, axpy, 1e-5, 1e-6)
			g := append([]float32(nil), m...)
			dt := make([]float32, c.n*c.r)
			var p partials
			outerAcc(g, 0.5, tt, x, c.n, c.r, c.w, dt, 0.5, m, &p)
			testutil.GradClose(t, "outerAcc", g, outer, 1e-5, 1e-6)
			testutil.GradClose(t, "outerAcc dt", dt, dot, 1e-5, 1e-6)
		})
	}
}
