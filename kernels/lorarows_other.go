//go:build purego || !amd64

package kernels

func loraRow(y, x []float32, a *LoRA) { loraRowGeneric(y, x, a) }
