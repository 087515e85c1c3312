package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unsafe"

	"github.com/golora/golora/internal/atomicfile"
	"github.com/golora/golora/tensor"
)

// Write stores tensors as F32 at path, atomically (the old file, if any, is
// intact until the new one is complete and synced). Tensors are sorted by
// name and packed without gaps; metadata may be nil.
func Write(path string, tensors map[string]*tensor.Tensor, metadata map[string]string) error {
	return WriteDType(path, tensors, metadata, "F32")
}

// WriteDType is Write with the stored dtype chosen: "F32", "F16" or "BF16"
// (rounded to nearest even, as PyTorch's .to() does).
func WriteDType(path string, tensors map[string]*tensor.Tensor, metadata map[string]string, dtype string) error {
	if err := checkWrite(path, tensors, dtype); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		return encode(path, w, tensors, metadata, dtype)
	})
}

// Encode writes tensors in safetensors format to w, in the same layout as
// WriteDType, for callers that stream to something other than a file.
func Encode(w io.Writer, tensors map[string]*tensor.Tensor, metadata map[string]string, dtype string) error {
	if err := checkWrite("", tensors, dtype); err != nil {
		return err
	}
	return encode("", w, tensors, metadata, dtype)
}

func checkWrite(path string, tensors map[string]*tensor.Tensor, dtype string) error {
	switch dtype {
	case "F32", "F16", "BF16":
	default:
		return newError(path, "", ErrDType, "cannot write dtype %q (want F32, F16 or BF16)", dtype)
	}
	for name, t := range tensors {
		if name == "__metadata__" || name == "" {
			return newError(path, name, ErrHeader, "reserved or empty tensor name")
		}
		if t == nil {
			return newError(path, name, ErrShape, "nil tensor")
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return newError(path, name, ErrShape, "negative dimension in shape %v", t.Shape)
			}
			n *= d
		}
		if n != tensorLen(t) {
			return newError(path, name, ErrShape, "shape %v needs %d values but the tensor has %d", t.Shape, n, tensorLen(t))
		}
	}
	return nil
}

// header64 builds the padded JSON header for tensors stored as dtype, with
// names sorted and spans packed; it returns the header bytes (without the
// length prefix) and the sorted names.
func header64(tensors map[string]*tensor.Tensor, metadata map[string]string, dtype string) ([]byte, []string) {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	size := dtypeSizes[dtype]
	var b strings.Builder
	b.WriteByte('{')
	if len(metadata) > 0 {
		m, _ := json.Marshal(metadata) // map[string]string always marshals; keys come out sorted
		b.WriteString(`"__metadata__":`)
		b.Write(m)
	}
	var off int64
	for i, n := range names {
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		t := tensors[n]
		key, _ := json.Marshal(n)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sh, _ := json.Marshal(shape)
		end := off + int64(tensorLen(t))*size
		fmt.Fprintf(&b, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, key, dtype, sh, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return []byte(b.String()), names
}

func encode(path string, w io.Writer, tensors map[string]*tensor.Tensor, metadata map[string]string, dtype string) error {
	js, names := header64(tensors, metadata, dtype)
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 1<<20)
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	bw.Write(lenBuf[:])
	bw.Write(js)
	var scratch []byte
	for _, n := range names {
		data := tensors[n].Data
		if t := tensors[n]; t.IsHalf() {
			if len(t.Half) == 0 {
				continue
			}
			if t.DType.SafetensorsName() == dtype {
				scratch = appendHalf(scratch[:0], t.Half)
				bw.Write(scratch)
				continue
			}
			data = t.Float32() // another dtype: through float32, exactly
		}
		if len(data) == 0 {
			continue
		}
		switch {
		case dtype == "F32" && littleEndian:
			bw.Write(unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data)))
			continue
		case dtype == "F32":
			scratch = grow(scratch, 4*len(data))
			for i, v := range data {
				binary.LittleEndian.PutUint32(scratch[4*i:], math.Float32bits(v))
			}
		case dtype == "BF16":
			scratch = grow(scratch, 2*len(data))
			for i, v := range data {
				binary.LittleEndian.PutUint16(scratch[2*i:], tensor.F32ToBF16(v))
			}
		case dtype == "F16":
			scratch = grow(scratch, 2*len(data))
			for i, v := range data {
				binary.LittleEndian.PutUint16(scratch[2*i:], tensor.F32ToF16(v))
			}
		}
		bw.Write(scratch)
	}
	// bufio.Writer keeps the first error; Flush reports it.
	if err := bw.Flush(); err != nil {
		return &Error{File: path, Err: err}
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// tensorLen is the number of values a tensor holds, in Data or Half.
func tensorLen(t *tensor.Tensor) int {
	if t.IsHalf() {
		return len(t.Half)
	}
	return len(t.Data)
}

// appendHalf appends 16-bit values little-endian: a half tensor written in
// its own dtype is copied, not converted.
func appendHalf(b []byte, h []uint16) []byte {
	for _, v := range h {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}
