//go:build !purego

package kernels

//go:noescape
func fmaLoop512(n int)

//go:noescape
func fmaLoop256(n int)

// fmaLoop runs n iterations of the widest FMA loop this CPU has and
// returns the flops each iteration does and the ISA's name.
func fmaLoop(n int) (flopsPerIter int, isa string) {
	switch {
	case useAVX512:
		fmaLoop512(n)
		return 512, "avx512"
	case useAVX2FMA:
		fmaLoop256(n)
		return 192, "avx2"
	}
	return fmaLoopGeneric(n), "generic"
}
