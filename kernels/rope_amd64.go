//go:build !purego

package kernels

// rotateAVX is rotateGeneric over i < n; n is a multiple of 8.
//
//go:noescape
func rotateAVX(lo, hi, c, s *float32, n int, sign float32)

func rotate(lo, hi, c, s []float32, sign float32) {
	n := len(lo) &^ 7
	if !useAVX2FMA || n == 0 {
		rotateGeneric(lo, hi, c, s, sign)
		return
	}
	rotateAVX(&lo[0], &hi[0], &c[0], &s[0], n, sign)
	rotateGeneric(lo[n:], hi[n:], c[n:], s[n:], sign)
}
