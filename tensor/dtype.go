package tensor

import "fmt"

// DType is how a tensor's values are stored: float32 in Data, 16-bit
// bit patterns in Half (bfloat16 or IEEE binary16), or GGUF blocks in Quant
// (Q8_0, Q4_K: see quant.go). Half and quantized storage is for frozen
// weights only (a base model kept in its checkpoint's dtype or quantized on
// load): everything that is computed or trained stays float32.
type DType uint8

const (
	F32 DType = iota
	BF16
	F16
	Q8_0
	Q4_K
)

// String is the lower-case name used by flags and JSON ("f32", "bf16", "f16").
func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	case F16:
		return "f16"
	case Q8_0:
		return "q8_0"
	case Q4_K:
		return "q4_k"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// SafetensorsName is the dtype's name in safetensors headers ("F32", "BF16", "F16").
func (d DType) SafetensorsName() string {
	switch d {
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	}
	return "F32"
}

// ParseDType reads "f32", "bf16" or "f16" (any case; "float32", "bfloat16"
// and "float16" too).
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32", "F32", "float32", "fp32":
		return F32, nil
	case "bf16", "BF16", "bfloat16":
		return BF16, nil
	case "f16", "F16", "float16", "fp16":
		return F16, nil
	case "q8_0", "Q8_0":
		return Q8_0, nil
	case "q4_k", "Q4_K":
		return Q4_K, nil
	}
	return F32, fmt.Errorf("unknown dtype %q (expected f32, bf16, f16, q8_0 or q4_k)", s)
}

// Widen returns the value of the 16-bit pattern h of dtype d.
func (d DType) Widen(h uint16) float32 {
	if d == F16 {
		return F16ToF32(h)
	}
	return BF16ToF32(h)
}

// Narrow rounds f to the 16-bit dtype d, to nearest even.
func (d DType) Narrow(f float32) uint16 {
	if d == F16 {
		return F32ToF16(f)
	}
	return F32ToBF16(f)
}

// IsHalf reports whether the tensor holds its values other than in Data:
// in Half (BF16, F16) or in Quant (IsQuant). Either way it is a frozen
// weight that cannot be trained or changed in place.
func (t *Tensor) IsHalf() bool { return t.DType != F32 }

// NewHalf wraps 16-bit values h (not copied) of dtype d with a shape; Data
// stays nil.
func NewHalf(d DType, h []uint16, shape ...int) *Tensor {
	if d == F32 {
		panic("tensor: NewHalf with F32")
	}
	if Numel(shape) != len(h) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(h), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Half: h, DType: d}
}

// Float32 returns the values as float32: Data itself, or a widened copy of
// Half.
func (t *Tensor) Float32() []float32 {
	if !t.IsHalf() {
		return t.Data
	}
	if t.IsQuant() {
		out := make([]float32, Numel(t.Shape))
		dequantizer(t.DType)(out, t.QuantRows(0, t.Shape[0]))
		return out
	}
	out := make([]float32, len(t.Half))
	for i, h := range t.Half {
		out[i] = t.DType.Widen(h)
	}
	return out
}

// CopyRow writes row i of a matrix into dst (len(dst) is the row length),
// widening a half tensor.
func (t *Tensor) CopyRow(dst []float32, i int) {
	C := len(dst)
	if !t.IsHalf() {
		copy(dst, t.Data[i*C:(i+1)*C])
		return
	}
	if t.IsQuant() {
		dequantizer(t.DType)(dst, t.QuantRows(i, i+1))
		return
	}
	for j, h := range t.Half[i*C : (i+1)*C] {
		dst[j] = t.DType.Widen(h)
	}
}
