//go:build !purego

package kernels

// quantActsAVX512 and quantActsAVX2 are quantActsGeneric over nb blocks
// of 32·chunks values (sums nil for none).
//
//go:noescape
func quantActsAVX512(x *float32, q *int8, d *float32, sums *int32, nb, chunks int)

//go:noescape
func quantActsAVX2(x *float32, q *int8, d *float32, sums *int32, nb, chunks int)

func quantActs(x []float32, q []int8, d []float32, sums []int32, bs int) {
	nb := len(d)
	switch {
	case nb == 0:
	case len(x) < nb*bs || len(q) < nb*bs || sums != nil && len(sums) < nb*bs/32:
		panic("kernels: quantActs: short buffers")
	case useAVX2FMA:
		var s *int32
		if sums != nil {
			s = &sums[0]
		}
		f := quantActsAVX2
		if useAVX512 {
			f = quantActsAVX512
		}
		f(&x[0], &q[0], &d[0], s, nb, bs/32)
	default:
		quantActsGeneric(x, q, d, sums, bs)
	}
}
