//go:build !purego

package kernels

// dotsAVX sets t[j] = dotAVX(x, a+j*lda, n) for j < r, bit for bit: the
// same four accumulators and reduction, two rows of a per pass sharing
// the loads of x. n is a multiple of 8, lda counts floats.
//
//go:noescape
func dotsAVX(x, a *float32, lda, n, r int, t *float32)

// axpysAVX computes y[i] += p[j]·v[j*ldv+i] for j = 0, …, r-1 in turn and
// i < n, each element's FMAs in axpyAVX's order; r ≥ 1, n a multiple of
// 8, ldv counts floats.
//
//go:noescape
func axpysAVX(y, p, v *float32, ldv, r, n int)

// loraRow is loraRowGeneric in two assembly calls per chunk of ranks (a
// decode row at width 64 spent more in the 2·R calls and their horizontal
// sums than in the FMAs), then the tails dot and axpy leave to Go.
func loraRow(y, x []float32, a *LoRA) {
	in, out := len(x), len(y)
	in8, out8 := in&^7, out&^7
	if !useAVX2FMA || in8 == 0 || out8 == 0 {
		loraRowGeneric(y, x, a)
		return
	}
	var t, p [loraChunk]float32
	for j0 := 0; j0 < a.R; j0 += loraChunk {
		m := min(loraChunk, a.R-j0)
		A, bt := a.A[j0*in:(j0+m)*in], a.BT[j0*out:(j0+m)*out]
		dotsAVX(&x[0], &A[0], in, in8, m, &t[0])
		skip := false
		for j := range m {
			t[j] += dotGeneric(x[in8:], A[j*in+in8:(j+1)*in]) // as dot adds its tail
			p[j] = a.Scale * t[j]
			skip = skip || p[j] == 0
		}
		if skip { // Axpy skips a zero alpha (which keeps a -0 in y)
			for j := range m {
				if p[j] != 0 {
					axpy(p[j], bt[j*out:(j+1)*out], y)
				}
			}
			continue
		}
		axpysAVX(&y[0], &p[0], &bt[0], out, m, out8)
		if out8 < out {
			for j := range m {
				axpyGeneric(p[j], bt[j*out+out8:(j+1)*out], y[out8:])
			}
		}
	}
}
