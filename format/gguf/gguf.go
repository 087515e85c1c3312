// Package gguf reads and writes GGUF files, the container of llama.cpp,
// ollama and LM Studio: a header of typed key/value metadata and tensor
// infos, then the tensor data, each tensor aligned (general.alignment, 32 by
// default). Versions 2 and 3 (little-endian) are read; version 3 is written.
//
// Open validates the whole header before returning: every count is bounded
// by the bytes left in the file (so a corrupt count cannot make it allocate
// more than the file's size), strings and arrays stay inside the file, keys
// and tensor names are unique, types are known, each tensor's row length is
// a multiple of its block size and its data lies inside the data area
// without overflow. Every failure is an *Error naming the file and, where
// there is one, the key or tensor.
//
// Tensor data is memory-mapped where the platform allows it. Types F32, F16,
// BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K dequantize to
// float32 (quant.go); F32, F16, BF16, Q8_0, Q4_0 and Q4_K can also be
// written. Block layouts are llama.cpp's (ggml-common.h).
package gguf

import (
	"errors"
	"fmt"
	"strings"
)

// Type is a ggml tensor type id.
type Type uint32

// The ggml type ids golora knows.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	BF16 Type = 30
)

// traits: elements per block and bytes per block.
type traits struct {
	name        string
	block, size int
}

var typeTraits = map[Type]traits{
	F32: {"F32", 1, 4}, F16: {"F16", 1, 2}, BF16: {"BF16", 1, 2},
	Q4_0: {"Q4_0", 32, 18}, Q4_1: {"Q4_1", 32, 20}, Q5_0: {"Q5_0", 32, 22}, Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34},
	Q4_K: {"Q4_K", 256, 144}, Q5_K: {"Q5_K", 256, 176}, Q6_K: {"Q6_K", 256, 210},
}

func (t Type) String() string {
	if tr, ok := typeTraits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements per block (1 for float types); 0 for
// an unknown type.
func (t Type) BlockSize() int { return typeTraits[t].block }

// BlockBytes is the number of bytes per block; 0 for an unknown type.
func (t Type) BlockBytes() int { return typeTraits[t].size }

// Quantized reports whether t is a block-quantized type.
func (t Type) Quantized() bool { return typeTraits[t].block > 1 }

// ParseType maps a name (f32, f16, bf16, q8_0, q4_0, q4_k, ...) to its Type.
func ParseType(s string) (Type, error) {
	for t, tr := range typeTraits {
		if strings.EqualFold(tr.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown GGUF tensor type %q", s)
}

// RowBytes is the size of n elements of type t; n must be a multiple of the
// block size.
func (t Type) RowBytes(n int) int { return n / t.BlockSize() * t.BlockBytes() }

// Sentinel errors, wrapped by *Error; test with errors.Is.
var (
	ErrFormat    = errors.New("malformed GGUF")
	ErrTruncated = errors.New("truncated GGUF")
	ErrType      = errors.New("unsupported GGUF type")
	ErrNotFound  = errors.New("not found")
)

// Error says which file and which key or tensor (empty when the problem is
// the file as a whole) a failure is about.
type Error struct {
	File, Where string
	Err         error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("gguf: ")
	b.WriteString(e.File)
	if e.Where != "" {
		b.WriteString(": ")
		b.WriteString(e.Where)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

type detail struct {
	sentinel error
	msg      string
}

func (d *detail) Error() string { return d.msg }
func (d *detail) Unwrap() error { return d.sentinel }

func newError(file, where string, sentinel error, format string, args ...any) *Error {
	return &Error{File: file, Where: where, Err: &detail{sentinel, fmt.Sprintf(format, args...)}}
}
