// Package safetensors reads and writes the safetensors format of Hugging Face:
//
//	u64 little-endian N | N bytes of JSON header | raw little-endian data
//
// where the header maps tensor names to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets relative to the data area) plus an optional
// "__metadata__" object of string to string.
//
// Files come from the internet, so nothing in them is trusted: Open reads at
// most the declared header (bounded by the file size and MaxHeaderSize),
// checks that it is well-formed JSON with known dtypes, shapes whose byte size
// equals their span, and spans that lie inside the data area and do not
// overlap, all before any tensor data is touched. Every failure is an *Error
// naming the file and the tensor and wrapping one of the sentinels below.
//
// Data is memory-mapped read-only where the OS allows (falling back to
// positioned reads), and Tensor copies and widens it out of the map into a
// float32 tensor the caller owns. Write produces the canonical layout (names
// sorted, packed without gaps, header padded with spaces to a multiple of 8,
// as the fixtures' writer and the safetensors library do) atomically.
package safetensors

import (
	"errors"
	"fmt"
	"strings"
)

// MaxHeaderSize bounds the JSON header. Real headers are kilobytes (a 70B
// model's is about 100 KB); the bound stops a hostile length field from
// causing a huge allocation. The safetensors library uses the same 100 MB.
const MaxHeaderSize = 100 << 20

// Sentinel errors, wrapped by *Error; test with errors.Is.
var (
	ErrHeader    = errors.New("invalid header")         // length field or JSON structure
	ErrDType     = errors.New("unknown dtype")          // dtype missing or not supported
	ErrShape     = errors.New("invalid shape")          // negative dims, overflow, size != span
	ErrSpan      = errors.New("span out of range")      // data_offsets malformed or outside the data area
	ErrOverlap   = errors.New("overlapping tensors")    // two spans share bytes
	ErrTruncated = errors.New("truncated file")         // file shorter than its header says
	ErrNotFound  = errors.New("tensor not found")       // no tensor of that name
	ErrDuplicate = errors.New("duplicate tensor name")  // the same name twice in one header
	ErrConvert   = errors.New("unsupported conversion") // e.g. Int64 of an F32 tensor
)

// Error is the error type of this package: which file, which tensor (empty
// when the problem is not about one tensor), and what went wrong. Err wraps
// one of the sentinels.
type Error struct {
	File   string
	Tensor string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// detail carries a specific message while still matching its sentinel, so the
// message reads "shape [2 3] × F32 = 24 bytes but span is 20 bytes" rather
// than "invalid shape: shape ...".
type detail struct {
	sentinel error
	msg      string
}

func (d *detail) Error() string { return d.msg }
func (d *detail) Unwrap() error { return d.sentinel }

func newError(file, tensor string, sentinel error, format string, args ...any) *Error {
	return &Error{File: file, Tensor: tensor, Err: &detail{sentinel, fmt.Sprintf(format, args...)}}
}

// Info describes one tensor as stored: its dtype name ("F32", "BF16", ...),
// its shape, and its byte span [Begin, End) relative to the data area.
type Info struct {
	DType string
	Shape []int
	Begin int64
	End   int64
}

// Numel is the number of elements of the tensor.
func (i Info) Numel() int64 {
	n := int64(1)
	for _, d := range i.Shape {
		n *= int64(d)
	}
	return n
}

// dtypeSizes lists every dtype of the safetensors specification. Files with
// any of them open (so inspect can describe them); Tensor converts the float
// ones, Int64 the integer ones.
var dtypeSizes = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// DTypeSize returns the byte size of one element of dtype, and false for an
// unknown dtype.
func DTypeSize(dtype string) (int, bool) {
	n, ok := dtypeSizes[dtype]
	return int(n), ok
}
