//go:build !amd64 || purego

package core

func dotF16(w []uint16, x []float32) float32 { return dotF16Generic(w[:len(x)], x) }
