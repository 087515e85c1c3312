//go:build !amd64 || purego

package kernels

var (
	dotQ4_K                  = dotQ4_KGeneric
	dequantQ8_0, dequantQ4_K = dequantQ8_0Generic, dequantQ4_KGeneric
)
