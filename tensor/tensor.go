// Package tensor is golora's float32 tensor: a shape and a contiguous
// row-major []float32. Views share storage, so slicing a batch row or a head
// costs nothing; kernels take the raw slices (llm.c style) and the shapes
// travel beside them.
package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a contiguous row-major float32 array.
type Tensor struct {
	Shape []int
	Data  []float32

	// Half holds the values instead of Data (then nil) when DType is BF16
	// or F16: a frozen base weight kept in its checkpoint's dtype (see
	// dtype.go). Only nn.Linear, the embedding lookup and the savers read it.
	Half  []uint16
	DType DType

	// Quant holds the values instead of Data when DType is Q8_0 or Q4_K:
	// a frozen base weight in GGUF blocks along its rows (see quant.go).
	// Nil when Tiles holds them instead: read them with QuantRows.
	Quant []byte
	Tiles QuantTiles
}

// New allocates a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// From wraps data (not copied) with a shape; it panics if the sizes disagree,
// which is a programmer error.
func From(data []float32, shape ...int) *Tensor {
	if Numel(shape) != len(data) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Numel is the product of the dimensions (1 for a scalar shape).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in %v", shape))
		}
		n *= d
	}
	return n
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	if t.IsHalf() { // 16-bit or quantized: Data is nil
		return Numel(t.Shape)
	}
	return len(t.Data)
}

// Bytes is the memory the values take in their dtype.
func (t *Tensor) Bytes() int { return t.DType.RowBytes(t.Len()) }

// Dim returns dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Rows treats the tensor as a matrix whose last dimension is the row length.
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return len(t.Data) / t.Shape[len(t.Shape)-1]
}

// Cols is the last dimension.
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// Index returns the view of sub-tensor i along the first dimension.
func (t *Tensor) Index(i int) *Tensor {
	if len(t.Shape) == 0 || i < 0 || i >= t.Shape[0] {
		panic(fmt.Sprintf("tensor: index %d out of range for shape %v", i, t.Shape))
	}
	inner := Numel(t.Shape[1:])
	return &Tensor{Shape: t.Shape[1:], Data: t.Data[i*inner : (i+1)*inner : (i+1)*inner]}
}

// Slice returns the view of rows [lo, hi) along the first dimension.
func (t *Tensor) Slice(lo, hi int) *Tensor {
	if len(t.Shape) == 0 || lo < 0 || hi < lo || hi > t.Shape[0] {
		panic(fmt.Sprintf("tensor: slice [%d:%d] out of range for shape %v", lo, hi, t.Shape))
	}
	inner := Numel(t.Shape[1:])
	shape := append([]int{hi - lo}, t.Shape[1:]...)
	return &Tensor{Shape: shape, Data: t.Data[lo*inner : hi*inner : hi*inner]}
}

// Reshape returns a view with a new shape of the same size. One dimension may
// be -1 and is inferred.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	s := append([]int(nil), shape...)
	infer, n := -1, 1
	for i, d := range s {
		if d == -1 {
			if infer >= 0 {
				panic("tensor: more than one -1 in reshape")
			}
			infer = i
			continue
		}
		n *= d
	}
	if infer >= 0 {
		if n == 0 || len(t.Data)%n != 0 {
			panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
		}
		s[infer] = len(t.Data) / n
		n *= s[infer]
	}
	if n != len(t.Data) {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{Shape: s, Data: t.Data}
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	if t.IsHalf() { // a copy is made to be changed: float32 (see dtype.go)
		return &Tensor{Shape: append([]int(nil), t.Shape...), Data: t.Float32()}
	}
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v", t.Shape)
	return b.String()
}
