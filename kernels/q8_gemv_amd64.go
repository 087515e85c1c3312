//go:build !purego

package kernels

// gemvQ8_0x4VNNI and gemvQ8_0x4AVX2 write to y[0..3] the products of the
// four Q8_0 rows w0..w3 (nb blocks each; rows a constant stride apart, the
// next four at the same stride after w3, which are prefetched) with the
// int8 activations x and their block scales dx: VPDPBUSD (AVX-512 VNNI on
// ymm registers) or VPMADDUBSW+VPMADDWD.
//
//go:noescape
func gemvQ8_0x4VNNI(w0, w1, w2, w3 *byte, x *int8, dx *float32, nb int, y *float32)

//go:noescape
func gemvQ8_0x4AVX2(w0, w1, w2, w3 *byte, x *int8, dx *float32, nb int, y *float32)

// gemvQ8_0x4 is the four-row kernel the CPU has, nil for none (checked at
// each call: the tests switch implementations).
func gemvQ8_0x4() func(w0, w1, w2, w3 *byte, x *int8, dx *float32, nb int, y *float32) {
	switch {
	case useAVX512 && hasVNNI:
		return gemvQ8_0x4VNNI
	case useAVX2FMA && hasF16C:
		return gemvQ8_0x4AVX2
	}
	return nil
}
