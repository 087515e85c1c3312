//go:build !purego

package kernels

// rowTileAVX512 sets out[4r+c] = a_r·b_c for r < rows and c < 4 in the
// row-exact order (rowdot.go), with p = {a0, a1, a2, a3, b0, b1, b2, b3},
// each n floats long; rows is 1 (a1..a3 are not read) or 4; mask has one
// bit for each of the n%16 tail elements.
//
//go:noescape
func rowTileAVX512(p *[8]*float32, n, rows int, mask uint16, out *[16]float32)

// rowTile is rowTileAVX512 for rows 1 to 4 (2 and 3 run as 4, with the
// caller repeating a row).
func rowTile(p *[8]*float32, n, rows int, out *[16]float32) {
	if rows > 1 {
		rows = 4
	}
	rowTileAVX512(p, n, rows, uint16(1)<<(n%16)-1, out)
}
