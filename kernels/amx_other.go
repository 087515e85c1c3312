//go:build !amd64 || purego

package kernels

// Without amd64 assembly there is no AMX path.
var amxAvailable, useAMX = false, false

func amxTile(a []uint16, lda int, b []uint16, bhalf int, c []float32, ldc int, kb int, r amxBlocks) {
	panic("kernels: AMX is not available")
}

func amxSplitTile(a []uint16, lda int, b []uint16, ldb int, c []float32, ldc int, steps int, load bool, r amxBlocks) {
	panic("kernels: AMX is not available")
}
