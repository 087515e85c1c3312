package experiment

import (
	"math"
	"testing"
)

// TestTDistribution checks the Student-t tail and quantiles against closed
// forms (df 1: Cauchy, df 2 and 4: Student's algebraic CDFs) and against
// published table values (scipy.stats.t.ppf(0.975, df), 17 digits).
func TestTDistribution(t *testing.T) {
	cdf2 := func(x float64) float64 { return 0.5 + x/(2*math.Sqrt(2+x*x)) }
	cdf4 := func(x float64) float64 {
		s := x * x / 4
		return 0.5 + 3.0/8*x/math.Sqrt(1+s)*(1-x*x/(12*(1+s)))
	}
	for _, x := range []float64{-3.7, -1, 0.3, 1, 2.5, 8} {
		if got, want := 1-tSF(x, 1), 0.5+math.Atan(x)/math.Pi; math.Abs(got-want) > 1e-13 {
			t.Errorf("df 1 CDF(%g) = %.15g, want %.15g", x, got, want)
		}
		if got, want := 1-tSF(x, 2), cdf2(x); math.Abs(got-want) > 1e-13 {
			t.Errorf("df 2 CDF(%g) = %.15g, want %.15g", x, got, want)
		}
		if got, want := 1-tSF(x, 4), cdf4(x); math.Abs(got-want) > 1e-13 {
			t.Errorf("df 4 CDF(%g) = %.15g, want %.15g", x, got, want)
		}
	}
	for _, c := range []struct{ df, want float64 }{
		{1, math.Tan(0.475 * math.Pi)},           // 12.706204736174...
		{2, 0.95 * math.Sqrt(2/(4*0.975*0.025))}, // 4.302652729749...
		{4, 2.7764451051977987},
		{9, 2.2621571627409915},
		{29, 2.045229642132703},
		{1000, 1.9623390808264074},
	} {
		if got := tQuantile(0.975, c.df); math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("t.ppf(0.975, %g) = %.16g, want %.16g", c.df, got, c.want)
		}
	}
	if got := tQuantile(0.025, 4); math.Abs(got+2.7764451051977987) > 1e-9 {
		t.Errorf("t.ppf(0.025, 4) = %g", got)
	}
}

// TestStatAndPaired checks the interval and the paired test on numbers
// worked by hand: differences 1, 2, 3, 4, 5 have mean 3, sd √2.5, so
// t = 3/(√2.5/√5) = 3√2 and p = 2·P(T4 > 3√2) from the df-4 closed form.
func TestStatAndPaired(t *testing.T) {
	s := stat([]float64{1, 2, 3, 4, 5, math.NaN()})
	if s.N != 5 || s.Mean != 3 || math.Abs(s.Std-math.Sqrt(2.5)) > 1e-15 {
		t.Fatalf("stat = %+v", s)
	}
	if want := 2.7764451051977987 * math.Sqrt(2.5) / math.Sqrt(5); math.Abs(s.CI-want) > 1e-9 {
		t.Errorf("CI = %.12g, want %.12g", s.CI, want)
	}
	a := []float64{10, 10, 10, 10, 10, 7}
	b := []float64{11, 12, 13, 14, 15, math.Inf(1)}
	p := pairedTest(a, b)
	x := 3 * math.Sqrt2
	cdf4 := 0.5 + 3.0/8*x/math.Sqrt(1+x*x/4)*(1-x*x/(12*(1+x*x/4)))
	if p.Diff.N != 5 || math.Abs(p.T-x) > 1e-12 || math.Abs(p.P-2*(1-cdf4)) > 1e-12 {
		t.Errorf("paired = %+v, want n 5, t %g, p %g", p, x, 2*(1-cdf4))
	}
	if p := pairedTest([]float64{1, 2}, []float64{2, 3}); !math.IsNaN(p.P) {
		t.Errorf("constant differences: p = %g, want NaN (no spread to test)", p.P)
	}
}
