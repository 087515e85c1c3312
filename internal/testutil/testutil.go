// Package testutil holds the helpers golora's tests share: finding the repo
// root and the read-only fixtures beside it, numpy-style approximate
// comparison that reports the worst element (llm.c's maxdiff), float64
// central finite differences, and random data.
//
// It is imported only from _test.go files.
package testutil

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, found by walking up from
// the working directory (go test runs in the package directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testutil: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Shared returns the path of elem among the test references: the repo's
// own testdata/ first (fixtures/ and models/, see testdata/README.md), then
// the optional ../shared next to the repository root. A reference found in
// neither fails the test in CI (CI=true) and skips it elsewhere, with a
// reason starting "reference file" that scripts/test.sh counts as a
// skipped parity test.
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	if len(elem) >= 2 && elem[0] == "models" && elem[1] == "tiny-random-gpt2" {
		// shared/models/README.md asks that this hub model (no licence of
		// its own) be used from ../shared, not copied into the project.
		return Extra(t, elem...)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(append([]string{root, "testdata"}, elem...)...)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p = filepath.Join(append([]string{root, "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("reference file %s missing from testdata/ and ../shared", filepath.Join(elem...))
		}
		t.Skipf("reference file %s not in testdata/ or ../shared", filepath.Join(elem...))
	}
	return p
}

// Extra returns the path of elem in the optional ../shared material that the
// repo does not carry (e.g. files whose licence forbids copying them),
// skipping the test when it is absent, in CI too: such tests add coverage
// beyond the parity tests and are not required.
func Extra(t testing.TB, elem ...string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(append([]string{root, "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("optional extra %s not available (../shared is absent)", filepath.Join(elem...))
	}
	return p
}

// Diff describes how far got is from want.
type Diff struct {
	MaxAbs float64 // max |got-want|
	MaxRel float64 // max |got-want| / |want| over elements with want != 0
	At     int     // index of the element that fails worst against the tolerance
	Got    float64 // got[At]
	Want   float64 // want[At]
	Bad    int     // number of elements outside the tolerance (or non-finite)
}

func (d Diff) String() string {
	return fmt.Sprintf("maxdiff %.3g (rel %.3g), worst at [%d]: got %.9g want %.9g, %d elements out of tolerance",
		d.MaxAbs, d.MaxRel, d.At, d.Got, d.Want, d.Bad)
}

// Compare measures got against want with numpy's allclose rule
// |got-want| <= atol + rtol*|want|. A NaN or Inf in got that is not
// identically in want counts as out of tolerance.
func Compare[F float32 | float64](got []F, want []float64, rtol, atol float64) Diff {
	if len(got) != len(want) {
		panic(fmt.Sprintf("testutil: comparing %d values with %d", len(got), len(want)))
	}
	d := Diff{At: -1}
	worst := -1.0
	for i, w := range want {
		g := float64(got[i])
		e := math.Abs(g - w)
		if g == w { // also equal infinities
			e = 0
		}
		ratio := e / (atol + rtol*math.Abs(w))
		if math.IsNaN(e) || math.IsInf(e, 0) {
			ratio = math.Inf(1)
		} else {
			d.MaxAbs = max(d.MaxAbs, e)
			if w != 0 {
				d.MaxRel = max(d.MaxRel, e/math.Abs(w))
			}
		}
		if ratio > 1 {
			d.Bad++
		}
		if ratio > worst || d.At < 0 {
			worst, d.At, d.Got, d.Want = ratio, i, g, w
		}
	}
	return d
}

// AllClose fails the test (without stopping it) when got differs from want
// by more than atol + rtol*|want| anywhere, reporting the maxdiff.
func AllClose[F float32 | float64](t testing.TB, name string, got []F, want []float64, rtol, atol float64) bool {
	t.Helper()
	d := Compare(got, want, rtol, atol)
	if d.Bad > 0 {
		t.Errorf("%s: %v (rtol %g, atol %g)", name, d, rtol, atol)
		return false
	}
	return true
}

// GradClose compares a gradient the way the fixtures' README suggests: the
// error is measured against the tensor's largest |want|, so tiny entries
// carry no meaningless relative error. It passes when
// max|got-want| <= rtol*max|want| + atol.
func GradClose[F float32 | float64](t testing.TB, name string, got []F, want []float64, rtol, atol float64) bool {
	t.Helper()
	return AllClose(t, name, got, want, 0, atol+rtol*MaxAbs(want))
}

// MaxAbs is max |x|.
func MaxAbs[F float32 | float64](x []F) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// NumGrad returns the central finite-difference gradient of f at x, with
// step h (1e-6 suits O(1) inputs in float64). x is perturbed in place and
// restored.
func NumGrad(f func(x []float64) float64, x []float64, h float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	return NumGradAt(f, x, h, idx)
}

// NewRand returns a deterministic generator for test data.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// RandN returns n values drawn from N(0, scale^2), as float32.
func RandN(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// To64 widens x to float64 (exactly).
func To64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// To32 rounds x to float32.
func To32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// ArgmaxAbs is the index of the largest |x[i]| (the first on ties): the
// gradient element a finite-difference check should not miss.
func ArgmaxAbs(x []float32) int {
	best := 0
	for i, v := range x {
		if math.Abs(float64(v)) > math.Abs(float64(x[best])) {
			best = i
		}
	}
	return best
}

// NumGradAt is NumGrad restricted to the elements idx (in that order): for
// inputs too large to difference in full, tests check a random sample.
func NumGradAt(f func(x []float64) float64, x []float64, h float64, idx []int) []float64 {
	g := make([]float64, len(idx))
	for k, i := range idx {
		x0 := x[i]
		x[i] = x0 + h
		fp := f(x)
		x[i] = x0 - h
		fm := f(x)
		x[i] = x0
		g[k] = (fp - fm) / (2 * h)
	}
	return g
}

// Sample returns up to k distinct indices of [0, n) (all of them when
// n <= k), always including the first and last.
func Sample(r *rand.Rand, n, k int) []int {
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := []int{0, n - 1}
	seen := map[int]bool{0: true, n - 1: true}
	for len(idx) < k {
		i := r.IntN(n)
		if !seen[i] {
			seen[i] = true
			idx = append(idx, i)
		}
	}
	return idx
}
