//go:build !purego

package kernels

var useAVX2FMAOrig, useAVX512Orig = useAVX2FMA, useAVX512

func archImpls() []string {
	var names []string
	if useAVX2FMAOrig {
		names = append(names, "avx2")
	}
	if useAVX512Orig {
		names = append(names, "avx512")
	}
	return names
}

func archSelect(name string) {
	switch name {
	case "":
		useAVX2FMA, useAVX512 = useAVX2FMAOrig, useAVX512Orig
	case "generic":
		useAVX2FMA, useAVX512 = false, false
	case "avx2":
		useAVX2FMA, useAVX512 = true, false
	case "avx512":
		useAVX2FMA, useAVX512 = true, true
	}
}
