//go:build purego || !amd64

package kernels

// rowTile is never called without the AVX-512 kernel (useAVX512 is false).
func rowTile(p *[8]*float32, n, rows int, out *[16]float32) {
	panic("kernels: rowTile without AVX-512")
}
