package safetensors

import (
	"encoding/binary"
	"io"
	"os"
	"slices"

	"github.com/golora/golora/internal/mmap"
	"github.com/golora/golora/tensor"
)

// Source is what a loader needs from a checkpoint: a single file (*File) or a
// sharded checkpoint (*Sharded) look the same through it.
type Source interface {
	// Names lists the tensor names, sorted.
	Names() []string
	// Info describes a tensor without reading it.
	Info(name string) (Info, bool)
	// Tensor reads a float tensor (F32, F16, BF16, F64) as float32.
	Tensor(name string) (*tensor.Tensor, error)
	// ReadInto converts a float tensor into dst (len(dst) == its Numel).
	ReadInto(name string, dst []float32) error
	// Metadata is the "__metadata__" map (for shards: the index's "metadata").
	Metadata() map[string]string
	// Release drops a memory-mapped tensor's pages from the resident set
	// once the loader has converted it (the bytes stay readable).
	Release(name string)
	// Close releases the mapping or file handles.
	Close() error
}

// File is an open, validated safetensors file.
type File struct {
	path    string
	h       *header
	dataOff int64 // start of the data area in the file

	// Exactly one of these holds the data: mapped (whole file, read-only
	// mmap or caller's bytes) or f (positioned reads when mmap failed).
	mapped []byte
	unmap  func() error
	f      *os.File
}

// noMmap forces positioned reads; tests use it to cover the fallback path.
var noMmap = false

// Open opens and validates path. The header is checked completely (see the
// package doc) before Open returns, so a *File's Info is trustworthy.
func Open(path string) (*File, error) {
	// Checked before opening: opening a named pipe blocks until a writer
	// comes, so a FIFO named model.safetensors would hang the caller.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, newError(path, "", ErrHeader, "not a regular file (%v)", st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	file, err := open(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return file, nil
}

func open(path string, f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		return nil, newError(path, "", ErrHeader, "not a regular file")
	}
	var lenBuf [8]byte
	if size < 8 {
		return nil, newError(path, "", ErrTruncated, "file is %d bytes, shorter than the 8-byte header length", size)
	}
	if _, err := f.ReadAt(lenBuf[:], 0); err != nil {
		return nil, &Error{File: path, Err: err}
	}
	n, err := checkHeaderLen(path, binary.LittleEndian.Uint64(lenBuf[:]), size)
	if err != nil {
		return nil, err
	}
	js := make([]byte, n)
	if _, err := f.ReadAt(js, 8); err != nil {
		return nil, &Error{File: path, Err: err}
	}
	h, err := parseHeader(path, js, size-8-n)
	if err != nil {
		return nil, err
	}
	file := &File{path: path, h: h, dataOff: 8 + n}
	file.f = f
	if !noMmap {
		if data, unmap, err := mmap.File(f, size); err == nil {
			file.mapped, file.unmap, file.f = data, unmap, nil
			f.Close() // the mapping outlives the descriptor
		}
	}
	return file, nil
}

func checkHeaderLen(path string, n uint64, size int64) (int64, error) {
	switch {
	case n > uint64(size-8):
		return 0, newError(path, "", ErrTruncated, "header length %d exceeds the %d bytes after the length field", n, size-8)
	case n > MaxHeaderSize:
		return 0, newError(path, "", ErrHeader, "header length %d exceeds the %d byte limit", n, MaxHeaderSize)
	case n < 2:
		return 0, newError(path, "", ErrHeader, "header length %d is too short for a JSON object", n)
	}
	return int64(n), nil
}

// FromBytes validates an in-memory safetensors file. name is used in error
// messages only. The returned File reads from data, which must not change
// while it is in use.
func FromBytes(name string, data []byte) (*File, error) {
	size := int64(len(data))
	if size < 8 {
		return nil, newError(name, "", ErrTruncated, "file is %d bytes, shorter than the 8-byte header length", size)
	}
	n, err := checkHeaderLen(name, binary.LittleEndian.Uint64(data), size)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(name, data[8:8+n], size-8-n)
	if err != nil {
		return nil, err
	}
	return &File{path: name, h: h, dataOff: 8 + n, mapped: data}, nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Names returns the tensor names, sorted. The slice is the caller's.
func (f *File) Names() []string { return slices.Clone(f.h.names) }

// Info describes the named tensor.
func (f *File) Info(name string) (Info, bool) {
	in, ok := f.h.infos[name]
	if ok {
		in.Shape = slices.Clone(in.Shape)
	}
	return in, ok
}

// Metadata returns a copy of the "__metadata__" map (empty if absent).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.h.metadata))
	for k, v := range f.h.metadata {
		m[k] = v
	}
	return m
}

// DataSize is the number of bytes in the data area (after the header).
func (f *File) DataSize() int64 {
	if f.mapped != nil {
		return int64(len(f.mapped)) - f.dataOff
	}
	st, err := f.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size() - f.dataOff
}

// Close releases the file. Tensors already returned stay valid: they were
// copied out.
func (f *File) Close() error {
	var err error
	if f.unmap != nil {
		err = f.unmap()
		f.unmap = nil
	}
	if f.f != nil {
		if cerr := f.f.Close(); err == nil {
			err = cerr
		}
		f.f = nil
	}
	f.mapped = nil
	return err
}

// Raw returns the stored bytes of a tensor with its Info. When the file is
// mapped the bytes alias the mapping and are valid only until Close; do not
// modify them.
func (f *File) Raw(name string) ([]byte, Info, error) {
	in, ok := f.h.infos[name]
	if !ok {
		return nil, Info{}, newError(f.path, name, ErrNotFound, "no such tensor")
	}
	b, err := f.raw(name, in, nil)
	return b, in, err
}

// raw returns the bytes of a tensor: a slice of the mapping, or read into buf
// (allocated if nil or too small) when reading through the file.
func (f *File) raw(name string, in Info, buf []byte) ([]byte, error) {
	n := in.End - in.Begin
	if f.mapped != nil {
		lo, hi := f.dataOff+in.Begin, f.dataOff+in.End
		if hi > int64(len(f.mapped)) { // only if the file shrank under us
			return nil, newError(f.path, name, ErrTruncated, "data ends at byte %d but file is %d bytes", hi, len(f.mapped))
		}
		return f.mapped[lo:hi:hi], nil
	}
	if f.f == nil {
		return nil, newError(f.path, name, os.ErrClosed, "file is closed")
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := f.f.ReadAt(buf, f.dataOff+in.Begin); err != nil {
		if err == io.EOF {
			return nil, newError(f.path, name, ErrTruncated, "file ends inside the tensor's data")
		}
		return nil, &Error{File: f.path, Tensor: name, Err: err}
	}
	return buf, nil
}
