package kernels

// Rotate turns each pair (lo[j], hi[j]) by the angle whose cosine and sine
// are c[j] and sign·s[j]: lo' = lo·c - hi·s', hi' = hi·c + lo·s'. It is
// rotary position embedding's step for one head in the half-split layout
// (sign -1 undoes it, the backward). The vector version multiplies and
// adds as the Go loop does (no FMA), so both give the same bits. All four
// slices have the same length.
func Rotate(lo, hi, c, s []float32, sign float32) {
	n := len(lo)
	if len(hi) != n || len(c) != n || len(s) != n {
		panic(badLen)
	}
	if n > 0 {
		rotate(lo, hi, c, s, sign)
	}
}

func rotateGeneric(lo, hi, c, s []float32, sign float32) {
	hi, c, s = hi[:len(lo)], c[:len(lo)], s[:len(lo)]
	for j, a := range lo {
		b, cj, sj := hi[j], c[j], sign*s[j]
		lo[j] = a*cj - b*sj
		hi[j] = b*cj + a*sj
	}
}
