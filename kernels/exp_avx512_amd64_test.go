//go:build !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX-512 exp gives every element the bits the AVX2 one gives (the
// attention and softmax rows do not change with the CPU's vector width).
func TestExpSubAVX512Bits(t *testing.T) {
	if !useAVX512Orig {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 40)
	}
	copy(x, []float32{0, -1, 1, -87, -88, -100, float32(math.Inf(-1)), float32(math.NaN()), 88, 0.5, -0.5, 87.3, -87.33, -87.34})
	want, got := make([]float32, len(x)), make([]float32, len(x))
	expSubAVX(&want[0], &x[0], len(x), 3, &expTab)
	expSubAVX512(&got[0], &x[0], len(x), 3, &expTab)
	for i := range x {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("exp(%v - 3): avx512 %v, avx2 %v", x[i], got[i], want[i])
		}
	}
}
