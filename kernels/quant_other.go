//go:build !amd64 || purego

package kernels

var dotQ8_0, dotQ4_K = dotQ8_0Generic, dotQ4_KGeneric
