package gguf

import "github.com/golora/golora/tensor"

// TypeOf is the GGUF type of a quantized tensor dtype (tensor.Q8_0, Q4_K).
func TypeOf(d tensor.DType) (Type, bool) {
	switch d {
	case tensor.Q8_0:
		return Q8_0, true
	case tensor.Q4_K:
		return Q4_K, true
	}
	return 0, false
}

// DTypeOf is the tensor dtype that keeps GGUF type t as it is in memory.
func DTypeOf(t Type) (tensor.DType, bool) {
	switch t {
	case Q8_0:
		return tensor.Q8_0, true
	case Q4_K:
		return tensor.Q4_K, true
	}
	return tensor.F32, false
}

// The tensor package cannot import this one (it is imported by it), so the
// block decoders behind Tensor.Float32 and CopyRow of quantized tensors are
// registered from here.
func init() {
	for _, d := range []tensor.DType{tensor.Q8_0, tensor.Q4_K} {
		t, _ := TypeOf(d)
		tensor.RegisterDequantizer(d, func(dst []float32, src []byte) {
			if err := Dequantize(dst, src, t); err != nil {
				panic(err) // sizes come from the tensor's shape
			}
		})
	}
}

// FirstNonFiniteScale is the index of the first block of data (type t)
// whose fp16 scale (Q8_0's d, Q4_K's d or dmin) is NaN or Inf, or -1.
func FirstNonFiniteScale(data []byte, t Type) int {
	bb := t.BlockBytes()
	if t != Q8_0 && t != Q4_K || bb == 0 {
		return -1
	}
	offs := []int{0}
	if t == Q4_K {
		offs = []int{0, 2}
	}
	for b := 0; (b+1)*bb <= len(data); b++ {
		for _, off := range offs {
			if data[b*bb+off+1]&0x7c == 0x7c { // fp16 exponent all ones
				return b
			}
		}
	}
	return -1
}
