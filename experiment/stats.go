package experiment

import (
	"fmt"
	"math"
)

// Stat summarises one quantity over seeds: mean, sample standard deviation
// and the half-width of the 95% Student-t confidence interval of the mean.
type Stat struct {
	Mean, Std, CI float64
	N             int
}

// stat ignores non-finite values (a diverged run has no loss).
func stat(xs []float64) Stat {
	var s Stat
	for _, x := range xs {
		if finite(x) {
			s.Mean += x
			s.N++
		}
	}
	if s.N == 0 {
		return Stat{Mean: math.NaN(), Std: math.NaN(), CI: math.NaN()}
	}
	s.Mean /= float64(s.N)
	if s.N == 1 {
		return s
	}
	for _, x := range xs {
		if finite(x) {
			s.Std += (x - s.Mean) * (x - s.Mean)
		}
	}
	s.Std = math.Sqrt(s.Std / float64(s.N-1))
	s.CI = tQuantile(0.975, float64(s.N-1)) * s.Std / math.Sqrt(float64(s.N))
	return s
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// String prints mean ± the 95% t-interval half-width (one seed: the mean).
func (s Stat) String() string {
	switch s.N {
	case 0:
		return "—"
	case 1:
		return fmt.Sprintf("%.4f", s.Mean)
	}
	return fmt.Sprintf("%.4f ± %.4f", s.Mean, s.CI)
}

// Paired is a paired t-test of per-seed differences b − a.
type Paired struct {
	Diff Stat    // of the differences
	T, P float64 // t statistic and two-sided p-value (NaN below 2 pairs or with zero spread)
}

// pairedTest compares b against a seed by seed; pairs where either side is
// not finite are dropped.
func pairedTest(a, b []float64) Paired {
	var d []float64
	for i := range min(len(a), len(b)) {
		if finite(a[i]) && finite(b[i]) {
			d = append(d, b[i]-a[i])
		}
	}
	p := Paired{Diff: stat(d), T: math.NaN(), P: math.NaN()}
	if p.Diff.N >= 2 && p.Diff.Std > 0 {
		p.T = p.Diff.Mean / (p.Diff.Std / math.Sqrt(float64(p.Diff.N)))
		p.P = 2 * tSF(math.Abs(p.T), float64(p.Diff.N-1))
	}
	return p
}

// tSF is the upper tail P(T > t) of Student's t with df degrees of freedom,
// through the regularised incomplete beta function:
// P(T > t) = I_{df/(df+t²)}(df/2, 1/2) / 2 for t >= 0.
func tSF(t, df float64) float64 {
	if math.IsNaN(t) {
		return math.NaN()
	}
	p := 0.5 * betaInc(df/2, 0.5, df/(df+t*t))
	if t < 0 {
		return 1 - p
	}
	return p
}

// tQuantile is the q-quantile of Student's t (0 < q < 1), found by
// bisection on tSF: the CDF is monotone, and 200 halvings of a bracket
// reach float64 resolution.
func tQuantile(q, df float64) float64 {
	if q == 0.5 {
		return 0
	}
	if q < 0.5 {
		return -tQuantile(1-q, df)
	}
	lo, hi := 0.0, 1.0
	for tSF(hi, df) > 1-q {
		hi *= 2
	}
	for range 200 {
		mid := (lo + hi) / 2
		if tSF(mid, df) > 1-q {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-15*hi {
			break
		}
	}
	return (lo + hi) / 2
}

// betaInc is the regularised incomplete beta function I_x(a, b), by the
// continued fraction of Numerical Recipes (betacf), using the symmetry
// I_x(a,b) = 1 − I_{1−x}(b,a) where the fraction converges slowly.
func betaInc(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

func betaCF(a, b, x float64) float64 {
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 10000; m++ {
		fm := float64(m)
		for _, num := range []float64{
			fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm)),
			-(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1)),
		} {
			d = 1 + num*d
			if math.Abs(d) < tiny {
				d = tiny
			}
			c = 1 + num/c
			if math.Abs(c) < tiny {
				c = tiny
			}
			d = 1 / d
			h *= d * c
		}
		if math.Abs(d*c-1) < 1e-16 {
			break
		}
	}
	return h
}
