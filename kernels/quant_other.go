//go:build !amd64 || purego

package kernels

var (
	dotQ8_0, dotQ4_K         = dotQ8_0Generic, dotQ4_KGeneric
	dequantQ8_0, dequantQ4_K = dequantQ8_0Generic, dequantQ4_KGeneric
)
