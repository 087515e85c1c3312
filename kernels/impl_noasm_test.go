//go:build purego || !(amd64 || arm64)

package kernels

func archImpls() []string { return nil }

func archSelect(string) {}
