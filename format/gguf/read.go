package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/golora/golora/internal/mmap"
	"github.com/golora/golora/tensor"
)

// Value type ids of the metadata.
const (
	tU8, tI8, tU16, tI16, tU32, tI32, tF32, tBool, tString, tArray, tU64, tI64, tF64 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
)

// Limits beyond the file-size bound: llama.cpp's own (≤ 4 dims, names < 64
// bytes would be too strict for reading; 1<<30 array elements).
const (
	maxDims      = 4
	maxArray     = 1 << 30
	maxNameBytes = 1 << 16
	// DefaultAlignment is used when general.alignment is absent.
	DefaultAlignment = 32
)

// KV is one metadata pair. Value is uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64, float64 or a slice of one of
// those (a GGUF array).
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor. Dims are in ggml order (Dims[0] is the
// contiguous, innermost dimension); Shape gives the row-major order.
type TensorInfo struct {
	Name   string
	Dims   []int
	Type   Type
	Offset int64 // from the start of the data area
	Size   int64 // bytes
}

// Shape is the row-major (PyTorch) shape: Dims reversed.
func (ti TensorInfo) Shape() []int {
	s := slices.Clone(ti.Dims)
	slices.Reverse(s)
	return s
}

// Numel is the number of elements.
func (ti TensorInfo) Numel() int {
	n := 1
	for _, d := range ti.Dims {
		n *= d
	}
	return n
}

// File is an open, validated GGUF file.
type File struct {
	path      string
	Version   uint32
	KVs       []KV
	kv        map[string]int
	Tensors   []TensorInfo
	tensors   map[string]int
	Alignment int
	dataOff   int64

	data  []byte // the whole file: mapped or read
	unmap func() error
}

// Open reads and validates path, mapping it into memory where possible.
func Open(path string) (*File, error) {
	// Checked before opening: opening a named pipe blocks until a writer
	// comes.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, newError(path, "", ErrFormat, "not a regular file (%v)", st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, newError(path, "", ErrFormat, "not a regular file")
	}
	data, unmap, err := mmap.File(f, st.Size())
	if err != nil {
		if data, err = os.ReadFile(path); err != nil {
			return nil, &Error{File: path, Err: err}
		}
		unmap = nil
	}
	g, err := parse(path, data)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		return nil, err
	}
	g.unmap = unmap
	return g, nil
}

// FromBytes validates an in-memory GGUF file; name is used in errors. data
// must not change while the File is in use.
func FromBytes(name string, data []byte) (*File, error) { return parse(name, data) }

// Close releases the mapping. Slices from Raw become invalid.
func (f *File) Close() error {
	var err error
	if f.unmap != nil {
		err = f.unmap()
		f.unmap = nil
	}
	f.data = nil
	return err
}

// Path is the name the file was opened with.
func (f *File) Path() string { return f.path }

// Get returns the value of key.
func (f *File) Get(key string) (any, bool) {
	i, ok := f.kv[key]
	if !ok {
		return nil, false
	}
	return f.KVs[i].Value, true
}

// String returns a string value ("" and false when absent or not a string).
func (f *File) String(key string) (string, bool) {
	v, _ := f.Get(key)
	s, ok := v.(string)
	return s, ok
}

// Int returns an integer value of any width (false when absent, not an
// integer, or out of int range).
func (f *File) Int(key string) (int, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return toInt(v)
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case uint8:
		return int(x), true
	case int8:
		return int(x), true
	case uint16:
		return int(x), true
	case int16:
		return int(x), true
	case uint32:
		return int(x), true
	case int32:
		return int(x), true
	case uint64:
		return int(x), x <= math.MaxInt
	case int64:
		return int(x), int64(int(x)) == x
	}
	return 0, false
}

// Float returns a float (or integer) value as float64.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case float32:
		// The shortest decimal of the float32, so 1e-5 stored as f32 reads
		// back as 1e-5 (what the HF config held), not 9.99999974738e-06.
		d, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return d, true
	case float64:
		return x, true
	}
	n, ok := toInt(v)
	return float64(n), ok
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Get(key)
	b, ok := v.(bool)
	return b, ok
}

// Info returns the named tensor's info.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	ti := f.Tensors[i]
	ti.Dims = slices.Clone(ti.Dims)
	return ti, true
}

// Raw returns the stored bytes of a tensor; they alias the file's mapping
// and are valid until Close. Do not modify them.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	ti, ok := f.Info(name)
	if !ok {
		return nil, ti, newError(f.path, name, ErrNotFound, "no such tensor")
	}
	if f.data == nil {
		return nil, ti, newError(f.path, name, os.ErrClosed, "file is closed")
	}
	lo := f.dataOff + ti.Offset
	return f.data[lo : lo+ti.Size : lo+ti.Size], ti, nil
}

// Release drops the tensor's pages from the process's resident set when
// the file is memory-mapped (mmap.Release): a loader converting or copying
// tensors one at a time calls it after each, so its peak RSS never holds
// the whole file. The bytes stay readable.
func (f *File) Release(name string) {
	if i, ok := f.tensors[name]; ok && f.unmap != nil && f.data != nil {
		lo := f.dataOff + f.Tensors[i].Offset
		mmap.Release(f.data[lo : lo+f.Tensors[i].Size])
	}
}

// Float32 dequantizes a tensor into a new row-major float32 tensor.
func (f *File) Float32(name string) (*tensor.Tensor, error) {
	raw, ti, err := f.Raw(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, ti.Numel())
	if err := Dequantize(out, raw, ti.Type); err != nil {
		return nil, &Error{File: f.path, Where: name, Err: err}
	}
	return tensor.From(out, ti.Shape()...), nil
}

// reader walks the header with every read bounded by the data left.
type reader struct {
	path string
	b    []byte
	off  int
	at   string // what is being read, for errors
}

func (r *reader) fail(format string, args ...any) error {
	return newError(r.path, r.at, ErrFormat, "at byte %d: %s", r.off, fmt.Sprintf(format, args...))
}

func (r *reader) need(n uint64) error {
	if n > uint64(len(r.b)-r.off) {
		return newError(r.path, r.at, ErrTruncated, "at byte %d: need %d bytes, file has %d left", r.off, n, len(r.b)-r.off)
	}
	return nil
}

func (r *reader) u8() (uint8, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	r.off++
	return r.b[r.off-1], nil
}

func (r *reader) u16() (uint16, error) {
	if err := r.need(2); err != nil {
		return 0, err
	}
	r.off += 2
	return binary.LittleEndian.Uint16(r.b[r.off-2:]), nil
}

func (r *reader) u32() (uint32, error) {
	if err := r.need(4); err != nil {
		return 0, err
	}
	r.off += 4
	return binary.LittleEndian.Uint32(r.b[r.off-4:]), nil
}

func (r *reader) u64() (uint64, error) {
	if err := r.need(8); err != nil {
		return 0, err
	}
	r.off += 8
	return binary.LittleEndian.Uint64(r.b[r.off-8:]), nil
}

func (r *reader) str() (string, error) {
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	if err := r.need(n); err != nil {
		return "", err
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

// elemSize is the encoded size of a scalar value type (strings: the minimum,
// their 8-byte length), 0 for an unknown type.
func elemSize(t uint32) uint64 {
	switch t {
	case tU8, tI8, tBool:
		return 1
	case tU16, tI16:
		return 2
	case tU32, tI32, tF32:
		return 4
	case tU64, tI64, tF64, tString:
		return 8
	}
	return 0
}

func (r *reader) scalar(t uint32) (any, error) {
	switch t {
	case tU8, tI8, tBool:
		v, err := r.u8()
		if err != nil {
			return nil, err
		}
		switch t {
		case tI8:
			return int8(v), nil
		case tBool:
			if v > 1 {
				return nil, r.fail("bool value %d", v)
			}
			return v == 1, nil
		}
		return v, nil
	case tU16, tI16:
		v, err := r.u16()
		if t == tI16 {
			return int16(v), err
		}
		return v, err
	case tU32, tI32, tF32:
		v, err := r.u32()
		switch t {
		case tI32:
			return int32(v), err
		case tF32:
			return math.Float32frombits(v), err
		}
		return v, err
	case tU64, tI64, tF64:
		v, err := r.u64()
		switch t {
		case tI64:
			return int64(v), err
		case tF64:
			return math.Float64frombits(v), err
		}
		return v, err
	case tString:
		return r.str()
	}
	return nil, newError(r.path, r.at, ErrType, "unknown metadata value type %d", t)
}

func (r *reader) value(t uint32) (any, error) {
	if t != tArray {
		return r.scalar(t)
	}
	et, err := r.u32()
	if err != nil {
		return nil, err
	}
	n, err := r.u64()
	if err != nil {
		return nil, err
	}
	es := elemSize(et)
	if es == 0 {
		if et == tArray {
			return nil, newError(r.path, r.at, ErrType, "nested arrays are not supported")
		}
		return nil, newError(r.path, r.at, ErrType, "unknown array element type %d", et)
	}
	// The count is bounded by the bytes left before anything is allocated.
	if n > maxArray || n > uint64(len(r.b)-r.off)/es {
		return nil, newError(r.path, r.at, ErrTruncated, "array of %d elements of %d+ bytes does not fit in the %d bytes left", n, es, len(r.b)-r.off)
	}
	switch et {
	case tU8:
		return readArr[uint8](r, et, n)
	case tI8:
		return readArr[int8](r, et, n)
	case tU16:
		return readArr[uint16](r, et, n)
	case tI16:
		return readArr[int16](r, et, n)
	case tU32:
		return readArr[uint32](r, et, n)
	case tI32:
		return readArr[int32](r, et, n)
	case tF32:
		return readArr[float32](r, et, n)
	case tBool:
		return readArr[bool](r, et, n)
	case tString:
		return readArr[string](r, et, n)
	case tU64:
		return readArr[uint64](r, et, n)
	case tI64:
		return readArr[int64](r, et, n)
	default:
		return readArr[float64](r, et, n)
	}
}

func readArr[T any](r *reader, et uint32, n uint64) ([]T, error) {
	out := make([]T, n)
	for i := range out {
		v, err := r.scalar(et)
		if err != nil {
			return nil, err
		}
		out[i] = v.(T)
	}
	return out, nil
}

func parse(path string, data []byte) (*File, error) {
	r := &reader{path: path, b: data}
	if len(data) < 4 || string(data[:4]) != "GGUF" {
		return nil, newError(path, "", ErrFormat, "not a GGUF file (no \"GGUF\" magic)")
	}
	r.off = 4
	version, err := r.u32()
	if err != nil {
		return nil, err
	}
	switch {
	case version&0xFFFF == 0:
		return nil, newError(path, "", ErrFormat, "big-endian GGUF is not supported")
	case version != 2 && version != 3:
		return nil, newError(path, "", ErrFormat, "version %d (only 2 and 3 are supported)", version)
	}
	nt, err := r.u64()
	if err != nil {
		return nil, err
	}
	nkv, err := r.u64()
	if err != nil {
		return nil, err
	}
	// A KV is at least 8+4+1 bytes and a tensor info 8+4+8+4+8, so counts
	// larger than the file allows are rejected before allocating for them.
	left := uint64(len(data) - r.off)
	if nkv > left/13 {
		return nil, newError(path, "", ErrTruncated, "%d metadata pairs cannot fit in the %d bytes left", nkv, left)
	}
	if nt > left/32 {
		return nil, newError(path, "", ErrTruncated, "%d tensor infos cannot fit in the %d bytes left", nt, left)
	}
	f := &File{path: path, Version: version, kv: make(map[string]int, nkv), tensors: make(map[string]int, nt), Alignment: DefaultAlignment, data: data}
	f.KVs = make([]KV, 0, nkv)
	for i := uint64(0); i < nkv; i++ {
		r.at = fmt.Sprintf("metadata pair %d", i)
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		r.at = fmt.Sprintf("key %q", key)
		if _, dup := f.kv[key]; dup {
			return nil, r.fail("duplicate key")
		}
		t, err := r.u32()
		if err != nil {
			return nil, err
		}
		v, err := r.value(t)
		if err != nil {
			return nil, err
		}
		f.kv[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{key, v})
	}
	r.at = ""
	if v, ok := f.Get("general.alignment"); ok {
		a, isU32 := v.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return nil, newError(path, "general.alignment", ErrFormat, "%v (%T) is not a u32 power of two", v, v)
		}
		f.Alignment = int(a)
	}
	f.Tensors = make([]TensorInfo, 0, nt)
	for i := uint64(0); i < nt; i++ {
		r.at = fmt.Sprintf("tensor info %d", i)
		name, err := r.str()
		if err != nil {
			return nil, err
		}
		r.at = fmt.Sprintf("tensor %q", name)
		if len(name) > maxNameBytes {
			return nil, r.fail("name of %d bytes", len(name))
		}
		if _, dup := f.tensors[name]; dup {
			return nil, r.fail("duplicate tensor name")
		}
		nd, err := r.u32()
		if err != nil {
			return nil, err
		}
		if nd == 0 || nd > maxDims {
			return nil, r.fail("%d dimensions (1..%d)", nd, maxDims)
		}
		ti := TensorInfo{Name: name, Dims: make([]int, nd)}
		numel := uint64(1)
		for d := range ti.Dims {
			n, err := r.u64()
			if err != nil {
				return nil, err
			}
			if n == 0 || n > 1<<40 || numel > (1<<42)/n {
				return nil, r.fail("dimension %d of size %d (elements overflow)", d, n)
			}
			numel *= n
			ti.Dims[d] = int(n)
		}
		t, err := r.u32()
		if err != nil {
			return nil, err
		}
		ti.Type = Type(t)
		tr, ok := typeTraits[ti.Type]
		if !ok {
			return nil, newError(path, r.at, ErrType, "unsupported ggml type %d", t)
		}
		if ti.Dims[0]%tr.block != 0 {
			return nil, r.fail("row length %d is not a multiple of %s's block of %d", ti.Dims[0], ti.Type, tr.block)
		}
		ti.Size = int64(numel/uint64(tr.block)) * int64(tr.size)
		off, err := r.u64()
		if err != nil {
			return nil, err
		}
		if off%uint64(f.Alignment) != 0 || off > uint64(len(data)) {
			return nil, r.fail("data offset %d is not aligned to %d or past the end", off, f.Alignment)
		}
		ti.Offset = int64(off)
		f.tensors[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	r.at = ""
	f.dataOff = int64(align(r.off, f.Alignment))
	if nt > 0 && f.dataOff > int64(len(data)) {
		return nil, newError(path, "", ErrTruncated, "data area starts at byte %d past the end of the %d-byte file", f.dataOff, len(data))
	}
	dataLen := int64(len(data)) - f.dataOff
	// Data must lie inside the file and tensors must not overlap.
	idx := make([]int, len(f.Tensors))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(f.Tensors[a].Offset - f.Tensors[b].Offset) })
	var end int64
	for k, i := range idx {
		ti := f.Tensors[i]
		if ti.Offset > dataLen || ti.Size > dataLen-ti.Offset {
			return nil, newError(path, fmt.Sprintf("tensor %q", ti.Name), ErrTruncated, "data [%d, %d) is past the end of the %d-byte data area", ti.Offset, ti.Offset+ti.Size, dataLen)
		}
		if k > 0 && ti.Offset < end {
			return nil, newError(path, fmt.Sprintf("tensor %q", ti.Name), ErrFormat, "data at %d overlaps the previous tensor's, which ends at %d", ti.Offset, end)
		}
		end = ti.Offset + ti.Size
	}
	return f, nil
}

func align(n, a int) int { return (n + a - 1) / a * a }
