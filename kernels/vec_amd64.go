//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// useAVX2FMA selects the assembly kernels. The OS must also save the ymm
// state (OSXSAVE), which x/sys/cpu folds into X86.HasAVX.
var useAVX2FMA = cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The assembly loops handle n rounded down to a multiple of 8; the Go
// wrappers finish the remainder with the generic loops.

// dotAVX returns sum_{i<n} x[i]*y[i]; n is a multiple of 8.
//
//go:noescape
func dotAVX(x, y *float32, n int) float32

// dotRowsAVX computes out[t] = scale*dot(q[:d], k[t*ldk:t*ldk+d]) for
// t < n; n is a multiple of 4 and d of 8.
//
//go:noescape
func dotRowsAVX(out *float32, scale float32, q, k *float32, ldk, n, d int)

// axpyRowsAVX computes out[i] += sum_{t<n} p[t]*v[t*ldv+i] for i < d; d
// is a multiple of 8 (axpyRows passes a multiple of 32, axpySeq of 8).
//
//go:noescape
func axpyRowsAVX(out, p, v *float32, ldv, n, d int)

// axpyAVX computes y[i] += alpha*x[i] for i < n; n is a multiple of 8.
//
//go:noescape
func axpyAVX(alpha float32, x, y *float32, n int)

// scaleAVX computes x[i] *= alpha for i < n; n is a multiple of 8.
//
//go:noescape
func scaleAVX(alpha float32, x *float32, n int)

// addAVX computes dst[i] += x[i] for i < n; n is a multiple of 8.
//
//go:noescape
func addAVX(dst, x *float32, n int)

// mulAVX computes dst[i] = x[i]*y[i] for i < n; n is a multiple of 8.
//
//go:noescape
func mulAVX(dst, x, y *float32, n int)

// sumAVX returns sum_{i<n} x[i]; n is a multiple of 8.
//
//go:noescape
func sumAVX(x *float32, n int) float32

// sumSqAVX returns sum_{i<n} x[i]*x[i]; n is a multiple of 8.
//
//go:noescape
func sumSqAVX(x *float32, n int) float32

// maxAVX returns max(-Inf, max_{i<n} x[i]) ignoring NaNs; n is a multiple of 8.
//
//go:noescape
func maxAVX(x *float32, n int) float32

// maxAbsAVX returns max_{i<n} |x[i]| ignoring NaNs; n is a multiple of 8.
//
//go:noescape
func maxAbsAVX(x *float32, n int) float32

// expSubAVX computes dst[i] = exp32(x[i]-m) for i < n and returns their
// sum; n is a multiple of 8 and tab is expTab.
//
//go:noescape
func expSubAVX(dst, x *float32, n int, m float32, tab *[21][8]float32) float32

// expSubAVX512 is expSubAVX 16 lanes at a time (n a multiple of 16), with
// the same bits in dst.
//
//go:noescape
func expSubAVX512(dst, x *float32, n int, m float32, tab *[21][8]float32) float32

// expTab holds the exp constants, then the GELU ones of act_amd64.s, each
// replicated across a ymm register, in the order the assembly reads them.
var expTab [21][8]float32

func init() {
	consts := [21]float32{expHi, expLo, log2e, 0.5, ln2Hi, ln2Lo, expP0, expP1, expP2, expP3, expP4, expP5, 1,
		float32frombits(expBias), // the int32 exponent bias, stored as its bit pattern
		geluA, geluB, geluC, geluD, actExpHi, actXMax, -actXMax}
	for i, c := range consts {
		for j := range expTab[i] {
			expTab[i][j] = c
		}
	}
}

func dot(x, y []float32) float32 {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		return dotGeneric(x, y)
	}
	return dotAVX(&x[0], &y[0], n) + dotGeneric(x[n:], y[n:])
}

// dot3AVX is dotAVX for three x at once, sharing the loads of y.
//
//go:noescape
func dot3AVX(x0, x1, x2, y *float32, n int, out *[3]float32)

// dot3 sets out[r] = dot(x_r, y) for three rows, bit-identical to three
// dot calls.
func dot3(x0, x1, x2, y []float32, out *[3]float32) {
	n := len(y) &^ 7
	if !useAVX2FMA || n == 0 {
		out[0], out[1], out[2] = dotGeneric(x0, y), dotGeneric(x1, y), dotGeneric(x2, y)
		return
	}
	_, _, _ = x0[len(y)-1], x1[len(y)-1], x2[len(y)-1]
	dot3AVX(&x0[0], &x1[0], &x2[0], &y[0], n, out)
	out[0] += dotGeneric(x0[n:len(y)], y[n:])
	out[1] += dotGeneric(x1[n:len(y)], y[n:])
	out[2] += dotGeneric(x2[n:len(y)], y[n:])
}

func dotRows(out []float32, scale float32, q, k []float32, ldk int) {
	n, d := len(out), len(q)
	n4 := n &^ 3
	if !useAVX2FMA || n4 == 0 || d%8 != 0 {
		dotRowsGeneric(out, scale, q, k, ldk)
		return
	}
	_ = k[(n4-1)*ldk+d-1]
	dotRowsAVX(&out[0], scale, &q[0], &k[0], ldk, n4, d)
	if n4 < n {
		dotRowsGeneric(out[n4:], scale, q, k[n4*ldk:], ldk)
	}
}

func axpyRows(out, p, v []float32, ldv int) {
	n, d := len(p), len(out)
	d32 := d &^ 31
	if !useAVX2FMA || n == 0 || d32 == 0 {
		axpyRowsGeneric(out, p, v, ldv)
		return
	}
	_ = v[(n-1)*ldv+d-1]
	axpyRowsAVX(&out[0], &p[0], &v[0], ldv, n, d32)
	if d32 < d {
		axpyRowsGeneric(out[d32:], p, v[d32:], ldv)
	}
}

func axpy(alpha float32, x, y []float32) {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		axpyGeneric(alpha, x, y)
		return
	}
	axpyAVX(alpha, &x[0], &y[0], n)
	axpyGeneric(alpha, x[n:], y[n:])
}

func scale(alpha float32, x []float32) {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		scaleGeneric(alpha, x)
		return
	}
	scaleAVX(alpha, &x[0], n)
	scaleGeneric(alpha, x[n:])
}

func add(dst, x []float32) {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		addGeneric(dst, x)
		return
	}
	addAVX(&dst[0], &x[0], n)
	addGeneric(dst[n:], x[n:])
}

func mul(dst, x, y []float32) {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		mulGeneric(dst, x, y)
		return
	}
	mulAVX(&dst[0], &x[0], &y[0], n)
	mulGeneric(dst[n:], x[n:], y[n:])
}

func sum(x []float32) float32 {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		return sumGeneric(x)
	}
	return sumAVX(&x[0], n) + sumGeneric(x[n:])
}

func sumSq(x []float32) float32 {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		return sumSqGeneric(x)
	}
	return sumSqAVX(&x[0], n) + sumSqGeneric(x[n:])
}

func maxf(x []float32) float32 {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		return maxGeneric(x)
	}
	m := maxAVX(&x[0], n)
	if n < len(x) {
		if r := maxGeneric(x[n:]); r > m {
			m = r
		}
	}
	if m == negInf {
		// all -Inf or NaN: the generic loop tells the two apart
		return maxGeneric(x)
	}
	return m
}

func maxAbs(x []float32) float32 {
	n := len(x) &^ 7
	if !useAVX2FMA || n == 0 {
		return maxAbsGeneric(x)
	}
	return max(maxAbsAVX(&x[0], n), maxAbsGeneric(x[n:]))
}

func expSub(dst, x []float32, m float32) float32 {
	if !useAVX2FMA {
		return expSubGeneric(dst, x, m)
	}
	n := len(x) &^ 7
	var s float32
	n16 := 0
	if useAVX512 {
		n16 = len(x) &^ 15
	}
	if n16 > 0 {
		s = expSubAVX512(&dst[0], &x[0], n16, m, &expTab)
	}
	if n > n16 {
		s += expSubAVX(&dst[n16], &x[n16], n-n16, m, &expTab)
	}
	if r := len(x) - n; r > 0 {
		// The tail goes through the same vector code in a padded buffer,
		// so an element's exp does not depend on where it falls in the
		// slice: activations of a whole batch are one slice, and a row's
		// values would otherwise differ at the end of some batches.
		var bx, bd [8]float32
		copy(bx[:], x[n:])
		expSubAVX(&bd[0], &bx[0], 8, m, &expTab)
		copy(dst[n:len(x)], bd[:r])
		var t float32
		for _, e := range bd[:r] {
			t += e
		}
		s += t
	}
	return s
}
