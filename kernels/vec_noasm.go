//go:build purego || !amd64

package kernels

func dot(x, y []float32) float32 { return dotGeneric(x, y) }

func dot3(x0, x1, x2, y []float32, out *[3]float32) {
	out[0], out[1], out[2] = dotGeneric(x0, y), dotGeneric(x1, y), dotGeneric(x2, y)
}
func dotRows(out []float32, scale float32, q, k []float32, ldk int) {
	dotRowsGeneric(out, scale, q, k, ldk)
}
func axpyRows(out, p, v []float32, ldv int)      { axpyRowsGeneric(out, p, v, ldv) }
func axpy(alpha float32, x, y []float32)         { axpyGeneric(alpha, x, y) }
func scale(alpha float32, x []float32)           { scaleGeneric(alpha, x) }
func add(dst, x []float32)                       { addGeneric(dst, x) }
func mul(dst, x, y []float32)                    { mulGeneric(dst, x, y) }
func sum(x []float32) float32                    { return sumGeneric(x) }
func sumSq(x []float32) float32                  { return sumSqGeneric(x) }
func maxf(x []float32) float32                   { return maxGeneric(x) }
func maxAbs(x []float32) float32                 { return maxAbsGeneric(x) }
func expSub(dst, x []float32, m float32) float32 { return expSubGeneric(dst, x, m) }

// useAVX2FMA is always false without assembly; tests flip it on amd64.
var useAVX2FMA = false
