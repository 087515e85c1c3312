//go:build !purego

package kernels

import "slices"

// axpySeq is axpySeqGeneric with every rank's update of an 8- or 32-wide
// slice of y done while the slice is in registers (axpyRowsAVX: each
// element's FMAs in j order, as axpyAVX gives them one call at a time),
// the tail past a multiple of 8 in Go as axpy leaves it.
func axpySeq(y, p, v []float32, ldv int) {
	out8 := len(y) &^ 7
	if !useAVX2FMA || out8 == 0 || len(p) == 0 || slices.Contains(p, 0) { // Axpy skips a zero (keeping a -0 in y)
		axpySeqGeneric(y, p, v, ldv)
		return
	}
	_ = v[(len(p)-1)*ldv+len(y)-1]
	axpyRowsAVX(&y[0], &p[0], &v[0], ldv, len(p), out8)
	for j, pj := range p {
		axpyGeneric(pj, v[j*ldv+out8:j*ldv+len(y)], y[out8:])
	}
}
