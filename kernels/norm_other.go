//go:build purego || !amd64

package kernels

func normSums(x, dy, w []float32, m float32) (sg, sgx float32) { return normSumsGeneric(x, dy, w, m) }

func normGrad(dx, x, dy, w []float32, m, gm, k, s float32) {
	normGradGeneric(dx, x, dy, w, m, gm, k, s)
}

func sumSqDev(x []float32, m float32) float32      { return sumSqDevGeneric(x, m) }
func normApply(o, x, w, b []float32, m, s float32) { normApplyGeneric(o, x, w, b, m, s) }
