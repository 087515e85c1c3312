//go:build purego || !amd64

package kernels

func rotate(lo, hi, c, s []float32, sign float32) { rotateGeneric(lo, hi, c, s, sign) }
