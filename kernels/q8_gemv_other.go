//go:build !amd64 || purego

package kernels

func gemvQ8_0x4() func(w0, w1, w2, w3 *byte, x *int8, dx *float32, nb int, y *float32) {
	return nil
}
