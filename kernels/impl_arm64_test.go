//go:build !purego

package kernels

func archImpls() []string { return []string{"neon"} }

func archSelect(name string) { useNEON = name != "generic" }
