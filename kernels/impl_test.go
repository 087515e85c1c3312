package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// impls lists the implementations this CPU can run; forEachImpl runs f
// with each selected in turn, the way crypto's impl.Select does.
func impls() []string {
	return append([]string{"generic"}, archImpls()...)
}

// selectImpl switches the kernels to the named implementation: "" restores
// what the CPU detection chose, "generic" turns every assembly path off,
// and the names archImpls lists pick one (on amd64, avx512 covers the GEMM
// micro-kernel; the vector kernels stay on AVX2 under it).
func selectImpl(name string) { archSelect(name) }

func forEachImpl(t *testing.T, f func(t *testing.T)) {
	for _, name := range impls() {
		t.Run(name, func(t *testing.T) {
			selectImpl(name)
			defer selectImpl("")
			f(t)
		})
	}
}

const guardVal = float32(-12345.678)

// guarded returns a slice of n random values in [-1,1) at offset off of a
// buffer padded with guard values on both sides.
func guarded(rng *rand.Rand, n, off int) (buf, s []float32) {
	const pad = 9
	buf = make([]float32, off+n+2*pad)
	for i := range buf {
		buf[i] = guardVal
	}
	s = buf[pad+off : pad+off+n : pad+off+n]
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return buf, s
}

// checkGuards fails if anything outside s (at offset off in buf) changed.
func checkGuards(t *testing.T, name string, buf []float32, n, off int) {
	t.Helper()
	const pad = 9
	for i, v := range buf {
		if i >= pad+off && i < pad+off+n {
			continue
		}
		if v != guardVal {
			t.Fatalf("%s: guard at %d overwritten: %v", name, i, v)
		}
	}
}

func relErr(got, want, scale float64) float64 {
	if scale == 0 {
		scale = 1
	}
	return math.Abs(got-want) / scale
}
