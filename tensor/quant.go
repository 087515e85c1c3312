package tensor

import "fmt"

// A quantized tensor (DType Q8_0 or Q4_K) holds a frozen [rows, cols]
// weight as llama.cpp's GGUF blocks, each row its own run of blocks:
// Q8_0 is 32 int8 values and an fp16 scale per block (8.5 bits a weight),
// Q4_K 256 4-bit values with 6-bit sub-block scales and mins (4.5 bits).
// The block codecs live in format/gguf, which imports this package, so it
// registers the dequantizer here (RegisterDequantizer) for Float32 and
// CopyRow; the compute kernels are in kernels (quant*.go).

// IsQuant reports whether the tensor holds GGUF blocks in Quant.
func (t *Tensor) IsQuant() bool { return t.DType == Q8_0 || t.DType == Q4_K }

// BlockSize is the number of values per block of a quantized dtype (1 for
// the float dtypes).
func (d DType) BlockSize() int {
	switch d {
	case Q8_0:
		return 32
	case Q4_K:
		return 256
	}
	return 1
}

// RowBytes is the storage of n values of dtype d (n a multiple of its block).
func (d DType) RowBytes(n int) int {
	switch d {
	case Q8_0:
		return n / 32 * 34
	case Q4_K:
		return n / 256 * 144
	case BF16, F16:
		return 2 * n
	}
	return 4 * n
}

// QuantTiles holds a quantized weight's blocks in another layout (a decode
// kernel's, kernels.Q4KPacked) from which its GGUF rows come back exactly.
// A weight repacked for decode keeps only that copy (Quant nil, see
// nn.Linear.PackForDecode), so its memory is not held twice; the readers of
// the blocks (training's and evaluation's dequantized panels, the
// embedding lookup, the savers) unpack the rows they need, a panel or a
// row at a time.
type QuantTiles interface {
	UnpackRows(lo, hi int) []byte
}

// QuantRows returns the GGUF blocks of rows [lo, hi): a slice of Quant, or
// rows unpacked from Tiles (a new slice) when Quant is nil.
func (t *Tensor) QuantRows(lo, hi int) []byte {
	if t.Quant == nil && t.Tiles != nil {
		return t.Tiles.UnpackRows(lo, hi)
	}
	rb := t.DType.RowBytes(t.Shape[1])
	return t.Quant[lo*rb : hi*rb]
}

var dequantizers = map[DType]func(dst []float32, src []byte){}

// RegisterDequantizer sets the decoder of quantized dtype d (format/gguf
// does, at init).
func RegisterDequantizer(d DType, f func(dst []float32, src []byte)) { dequantizers[d] = f }

func dequantizer(d DType) func([]float32, []byte) {
	f := dequantizers[d]
	if f == nil {
		panic(fmt.Sprintf("tensor: no dequantizer for %v (import format/gguf)", d))
	}
	return f
}

// NewQuant wraps quantized rows q (not copied) of dtype d with a 2-D shape.
func NewQuant(d DType, q []byte, rows, cols int) *Tensor {
	if cols%d.BlockSize() != 0 || len(q) != rows*d.RowBytes(cols) {
		panic(fmt.Sprintf("tensor: %d bytes for [%d, %d] of %v", len(q), rows, cols, d))
	}
	return &Tensor{Shape: []int{rows, cols}, Quant: q, DType: d}
}
