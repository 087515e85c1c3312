//go:build purego || !(amd64 || arm64)

package kernels

// useAVX512 is always false without assembly.
var useAVX512 = false

func pickGeom() *geom { return &geomGeneric }

func packT(panel, src []float32, ld, k, w int) int { return 0 }

func packRow(dst, row []float32, panels, nr, step, next int) int { return 0 }

func packRowA(dst, row []float32, n, mr, step int) int { return 0 }
