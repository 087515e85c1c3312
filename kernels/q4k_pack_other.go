//go:build !amd64 || purego

package kernels

var gemvQ4Kx16 = gemvQ4Kx16Generic

// PackQ4KPays reports whether GemmQ4KPacked is faster than GemmQuant on
// the GGUF rows on this CPU (it has an assembly kernel).
func PackQ4KPays() bool { return false }
