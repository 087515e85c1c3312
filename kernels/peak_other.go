//go:build purego || !amd64

package kernels

func fmaLoop(n int) (flopsPerIter int, isa string) { return fmaLoopGeneric(n), "generic" }
