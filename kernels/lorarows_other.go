//go:build purego || !amd64

package kernels

func axpySeq(y, p, v []float32, ldv int) { axpySeqGeneric(y, p, v, ldv) }
