//go:build !amd64 || purego

package kernels

import "github.com/golora/golora/tensor"

// Without assembly there is no bf16 pair kernel: a 16-bit B is widened
// while packing and the float32 micro-kernel runs.
var (
	geomBF16       *geom
	geomBF16Forced *geom
	useAVX512BF16  = false
)

func widenAsm(dt tensor.DType, dst []float32, src []uint16) int { return 0 }

func dotBF16(w []uint16, x []float32) float32 { return dotBF16Generic(w, x) }

func dotBF16Pairs4(w *[4][]uint16, x []uint16, out *[4]float32) {
	*out = [4]float32{}
	dotBF16PairsTail(w, x, 0, out)
}
