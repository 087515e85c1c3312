//go:build purego || !amd64

package kernels

func gelu(dst, x, bias []float32)                     { geluGeneric(dst, x, bias) }
func geluGrad(dx, x, dy []float32, acc bool)          { geluGradGeneric(dx, x, dy, acc) }
func swiglu(dst, g, u []float32)                      { swigluGeneric(dst, g, u) }
func swigluGrad(dg, du, g, u, dy []float32, acc bool) { swigluGradGeneric(dg, du, g, u, dy, acc) }
