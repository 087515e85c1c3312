//go:build purego || !amd64

package kernels

// useAVX512 is always false without assembly.
var useAVX512 = false

func pickGeom() *geom { return &geomGeneric }

func packBTrans(panel, b []float32, ldb, kcur, nr int) int { return 0 }
