//go:build !amd64 || purego

package kernels

// Without amd64 assembly there is no AMX path.
var amxAvailable, useAMX = false, false

func amxTile(a []uint16, lda int, b []uint16, bhalf int, c []float32, ldc int, kb int, load bool, r amxBlocks) {
	panic("kernels: AMX is not available")
}

func amxTile16(a []uint16, lda int, b []uint16, c []float32, ldc int, kb int, r amxBlocks) {
	panic("kernels: AMX is not available")
}

func narrowBF16(dst []uint16, src []float32) { narrowBF16Generic(dst[:len(src)], src) }

func pairRows(d []uint16, half, block int, r0, r1 []uint16, n int) int { return 0 }

func transposeBlock(c []float32, ldc int, t []float32, m, cols int, add bool) {
	transposeBlockGeneric(c, ldc, t, m, cols, add)
}
