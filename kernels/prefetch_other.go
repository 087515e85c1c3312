//go:build purego || !amd64

package kernels

// prefetchL2 is a hint only; without it the loads simply miss.
func prefetchL2(p *float32, lines int) {}
