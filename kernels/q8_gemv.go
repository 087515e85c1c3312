package kernels

// GemmQuant's Q8_0 products take four weight rows per pass (gemvQ8_0x4):
// the activation block and its scale are loaded once for the four, their
// sums are four independent chains of FMAs (one row's chain bounded the
// one-row loop in cache), and the rows that follow are prefetched while
// these are summed, the next group into L1 and the fourth after it into L2
// (the rows are contiguous, so this streams the matrix in order; decode
// reads more weights than any cache holds, and memory is what is left).
// The layout stays GGUF's, so no second copy is kept. Every row is summed
// by the same instructions in the same order whether it is one of four or
// a tail row (run as a group with its last row repeated) and whatever the
// number of activation rows, so a row's output does not depend on the
// batch (model.SetRowExact).

// gemmQ8_0 is GemmQuant for Q8_0 weights (arguments checked there).
func gemmQ8_0(a *QActs, w []byte, out int, y []float32, ldy int) {
	rb, nb := 34*a.blocks, a.blocks
	grain := max(1, 1<<16/max(1, a.n*a.in)) // rows: ~64K multiply-adds per chunk
	kern := gemvQ8_0x4()
	if kern == nil || nb == 0 {
		For(out, grain, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				for i := 0; i < a.n; i++ {
					y[i*ldy+o] = dotQ8_0Generic(w[o*rb:(o+1)*rb], a.Q[i*a.in:(i+1)*a.in], a.D[i*nb:(i+1)*nb], nil)
				}
			}
		})
		return
	}
	For((out+3)/4, max(1, grain/4), func(lo, hi int) {
		var tail [4]float32
		for g := lo; g < hi; g++ {
			o := 4 * g
			r := [4]int{o, o + 1, o + 2, o + 3}
			for j := range r {
				r[j] = min(r[j], out-1)
			}
			for i := 0; i < a.n; i++ {
				dst := &tail[0]
				if o+4 <= out {
					dst = &y[i*ldy+o]
				}
				kern(&w[r[0]*rb], &w[r[1]*rb], &w[r[2]*rb], &w[r[3]*rb], &a.Q[i*a.in], &a.D[i*nb], nb, dst)
				if o+4 > out {
					copy(y[i*ldy+o:i*ldy+out], tail[:out-o])
				}
			}
		}
	})
}
