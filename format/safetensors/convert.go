package safetensors

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"

	"github.com/golora/golora/tensor"
)

// littleEndian reports whether the machine stores numbers like the format
// does; then F32 data is copied with one memmove instead of decoded.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Tensor reads a float tensor as float32: F32 as is, F16 and BF16 widened
// exactly, F64 rounded to nearest. The data is copied out of the file.
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	in, ok := f.h.infos[name]
	if !ok {
		return nil, newError(f.path, name, ErrNotFound, "no such tensor")
	}
	if err := floatDType(f.path, name, in.DType); err != nil {
		return nil, err
	}
	out := make([]float32, in.Numel())
	if err := f.readInto(name, in, out); err != nil {
		return nil, err
	}
	return tensor.From(out, in.Shape...), nil
}

// ReadInto converts a float tensor into dst, which must hold exactly its
// number of elements; loaders that cut all weights from one arena use it to
// avoid a second copy.
func (f *File) ReadInto(name string, dst []float32) error {
	in, ok := f.h.infos[name]
	if !ok {
		return newError(f.path, name, ErrNotFound, "no such tensor")
	}
	if err := floatDType(f.path, name, in.DType); err != nil {
		return err
	}
	if int64(len(dst)) != in.Numel() {
		return newError(f.path, name, ErrShape, "destination holds %d values, tensor %v has %d", len(dst), in.Shape, in.Numel())
	}
	return f.readInto(name, in, dst)
}

func floatDType(file, name, dtype string) error {
	switch dtype {
	case "F32", "F16", "BF16", "F64":
		return nil
	}
	return newError(file, name, ErrConvert, "dtype %s is not a float type", dtype)
}

func (f *File) readInto(name string, in Info, out []float32) error {
	n := len(out)
	if in.DType == "F32" && littleEndian && f.mapped == nil && n > 0 {
		// Read straight into the result: no intermediate buffer.
		_, err := f.raw(name, in, unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*n))
		return err
	}
	b, err := f.raw(name, in, nil)
	if err != nil {
		return err
	}
	switch in.DType {
	case "F32":
		DecodeF32(out, b)
	case "F16":
		DecodeF16(out, b)
	case "BF16":
		DecodeBF16(out, b)
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	}
	return nil
}

// Float64 reads a float tensor as float64 (F64 exactly; F32, F16, BF16
// widened), for the float64 reference fixtures. It returns the data and shape.
func (f *File) Float64(name string) ([]float64, []int, error) {
	in, ok := f.h.infos[name]
	if !ok {
		return nil, nil, newError(f.path, name, ErrNotFound, "no such tensor")
	}
	if in.DType != "F64" {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, nil, err
		}
		out := make([]float64, len(t.Data))
		for i, v := range t.Data {
			out[i] = float64(v)
		}
		return out, t.Shape, nil
	}
	b, err := f.raw(name, in, nil)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float64, in.Numel())
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, in.Shape, nil
}

// Int64 reads an integer tensor (I64, I32, I16, I8, U8, U16, U32, BOOL) as
// int64, e.g. token ids and targets. U64 values above MaxInt64 are an error.
func (f *File) Int64(name string) ([]int64, []int, error) {
	in, ok := f.h.infos[name]
	if !ok {
		return nil, nil, newError(f.path, name, ErrNotFound, "no such tensor")
	}
	size := dtypeSizes[in.DType]
	var get func(b []byte) int64
	switch in.DType {
	case "I64":
		get = func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }
	case "U64":
		get = func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }
	case "I32":
		get = func(b []byte) int64 { return int64(int32(binary.LittleEndian.Uint32(b))) }
	case "U32":
		get = func(b []byte) int64 { return int64(binary.LittleEndian.Uint32(b)) }
	case "I16":
		get = func(b []byte) int64 { return int64(int16(binary.LittleEndian.Uint16(b))) }
	case "U16":
		get = func(b []byte) int64 { return int64(binary.LittleEndian.Uint16(b)) }
	case "I8":
		get = func(b []byte) int64 { return int64(int8(b[0])) }
	case "U8", "BOOL":
		get = func(b []byte) int64 { return int64(b[0]) }
	default:
		return nil, nil, newError(f.path, name, ErrConvert, "dtype %s is not an integer type", in.DType)
	}
	b, err := f.raw(name, in, nil)
	if err != nil {
		return nil, nil, err
	}
	out := make([]int64, in.Numel())
	for i := range out {
		out[i] = get(b[int64(i)*size:])
		if in.DType == "U64" && out[i] < 0 {
			return nil, nil, newError(f.path, name, ErrConvert, "U64 value at %d overflows int64", i)
		}
	}
	return out, in.Shape, nil
}

// Ints is Int64 converted to []int, the token-id type used across golora.
func (f *File) Ints(name string) ([]int, []int, error) {
	v, shape, err := f.Int64(name)
	if err != nil {
		return nil, nil, err
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out, shape, nil
}

// DecodeF32 decodes len(dst) little-endian float32 values from src.
func DecodeF32(dst []float32, src []byte) {
	if littleEndian && len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// DecodeBF16 widens len(dst) little-endian bfloat16 values from src (exact).
func DecodeBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)] // one bounds check instead of one per element
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
	}
}

// DecodeF16 widens len(dst) little-endian IEEE half values from src (exact).
func DecodeF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	t := f16Table()
	for i := range dst {
		dst[i] = t[uint16(src[2*i])|uint16(src[2*i+1])<<8]
	}
}

// f16Table holds all 65536 widened halves (256 KB): a lookup beats the
// branches of tensor.F16ToF32 on large tensors. Built on first use.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = tensor.F16ToF32(uint16(i))
	}
	return &t
})

// ReadAll opens path and reads every tensor as float32, the inverse of
// Write; it suits small files (adapters, test models), since nothing stays
// memory-mapped. The metadata is returned too.
func ReadAll(path string) (map[string]*tensor.Tensor, map[string]string, error) {
	f, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	out := make(map[string]*tensor.Tensor, len(f.h.names))
	for _, n := range f.h.names {
		if out[n], err = f.Tensor(n); err != nil {
			return nil, nil, err
		}
	}
	return out, f.Metadata(), nil
}
