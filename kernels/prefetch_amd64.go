//go:build !purego

package kernels

// prefetchL2 asks for the lines 64-byte cache lines from p on to be brought
// into L2 (PREFETCHT1), without waiting for them.
//
//go:noescape
func prefetchL2(p *float32, lines int)
