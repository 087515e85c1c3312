//go:build !purego

package kernels

// gemvQ4Kx16VNNI is gemvQ4Kx16Generic over nb super-blocks with AVX-512
// VNNI on zmm registers.
//
//go:noescape
func gemvQ4Kx16VNNI(y *float32, w *byte, x *int8, dx *float32, sums *int16, nb int)

// gemvQ4Kx8AVX2 is gemvQ4Kx16Generic's rows 8h to 8h+7 (h = 0, 1) over nb
// super-blocks with AVX2.
//
//go:noescape
func gemvQ4Kx8AVX2(y *float32, w *byte, x *int8, dx *float32, sums *int16, nb, h int)

func gemvQ4Kx16(y *[q4kGroup]float32, w []byte, x []int8, dx []float32, sums []int16) {
	nb := len(dx)
	switch {
	case nb == 0:
		*y = [q4kGroup]float32{}
	case len(w) < nb*q4kTile || len(x) < 256*nb || len(sums) < 8*nb:
		panic("kernels: gemvQ4Kx16: short row")
	case useAVX512 && hasVNNI:
		gemvQ4Kx16VNNI(&y[0], &w[0], &x[0], &dx[0], &sums[0], nb)
	case useAVX2FMA && hasF16C:
		gemvQ4Kx8AVX2(&y[0], &w[0], &x[0], &dx[0], &sums[0], nb, 0)
		gemvQ4Kx8AVX2(&y[8], &w[0], &x[0], &dx[0], &sums[0], nb, 1)
	default:
		gemvQ4Kx16Generic(y, w, x, dx, sums)
	}
}

// PackQ4KPays reports whether GemmQ4KPacked is faster than GemmQuant on
// the GGUF rows on this CPU (it has an assembly kernel).
func PackQ4KPays() bool { return useAVX512 && hasVNNI || useAVX2FMA && hasF16C }
