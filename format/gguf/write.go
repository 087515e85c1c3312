package gguf

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/golora/golora/internal/atomicfile"
)

// WriteTensor is one tensor to write: Shape is row-major (PyTorch order;
// the file stores it reversed) and Data produces its encoded bytes when the
// writer reaches it, so a large model is converted one tensor at a time.
type WriteTensor struct {
	Name  string
	Type  Type
	Shape []int
	Data  func() ([]byte, error)
}

// Write atomically writes a version 3 GGUF file to path with the metadata
// in kvs (in order; Go types as KV documents) and the tensors back to back
// in the given order, each padded to general.alignment (32 unless kvs sets
// it), which is the layout llama.cpp requires.
func Write(path string, kvs []KV, tensors []WriteTensor) error {
	alignment := DefaultAlignment
	seen := map[string]bool{}
	for _, kv := range kvs {
		if seen[kv.Key] {
			return fmt.Errorf("gguf: %s: duplicate key %q", path, kv.Key)
		}
		seen[kv.Key] = true
		if _, err := typeOf(kv.Value); err != nil {
			return fmt.Errorf("gguf: %s: key %q: %w", path, kv.Key, err)
		}
		if kv.Key == "general.alignment" {
			a, ok := kv.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return fmt.Errorf("gguf: %s: general.alignment must be a u32 power of two, got %v", path, kv.Value)
			}
			alignment = int(a)
		}
	}
	offsets := make([]int64, len(tensors))
	var off int64
	names := map[string]bool{}
	for i, t := range tensors {
		if names[t.Name] {
			return fmt.Errorf("gguf: %s: duplicate tensor %q", path, t.Name)
		}
		names[t.Name] = true
		if _, ok := typeTraits[t.Type]; !ok {
			return fmt.Errorf("gguf: %s: tensor %q: %w %d", path, t.Name, ErrType, t.Type)
		}
		if len(t.Shape) == 0 || len(t.Shape) > maxDims || t.Shape[len(t.Shape)-1]%t.Type.BlockSize() != 0 {
			return fmt.Errorf("gguf: %s: tensor %q: shape %v does not fit %s (1-4 dims, rows a multiple of %d)", path, t.Name, t.Shape, t.Type, t.Type.BlockSize())
		}
		offsets[i] = off
		off = int64(align(int(off+tensorBytes(t)), alignment))
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		cw := &countWriter{w: w}
		cw.put("GGUF")
		cw.u32(3)
		cw.u64(uint64(len(tensors)))
		cw.u64(uint64(len(kvs)))
		for _, kv := range kvs {
			cw.str(kv.Key)
			writeValue(cw, kv.Value)
		}
		for i, t := range tensors {
			cw.str(t.Name)
			cw.u32(uint32(len(t.Shape)))
			for d := len(t.Shape) - 1; d >= 0; d-- {
				cw.u64(uint64(t.Shape[d]))
			}
			cw.u32(uint32(t.Type))
			cw.u64(uint64(offsets[i]))
		}
		cw.pad(alignment)
		start := cw.n
		for i, t := range tensors {
			b, err := t.Data()
			if err != nil {
				return fmt.Errorf("gguf: %s: tensor %q: %w", path, t.Name, err)
			}
			if int64(len(b)) != tensorBytes(t) {
				return fmt.Errorf("gguf: %s: tensor %q: %d bytes for shape %v of %s, want %d", path, t.Name, len(b), t.Shape, t.Type, tensorBytes(t))
			}
			if cw.n-start != offsets[i] {
				return fmt.Errorf("gguf: internal error: tensor %q at %d, planned %d", t.Name, cw.n-start, offsets[i])
			}
			cw.write(b)
			cw.pad(alignment)
		}
		return cw.err
	})
}

func tensorBytes(t WriteTensor) int64 {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return int64(t.Type.RowBytes(n))
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
	buf [8]byte
}

func (c *countWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	var n int
	n, c.err = c.w.Write(b)
	c.n += int64(n)
}

func (c *countWriter) put(s string) { c.write([]byte(s)) }
func (c *countWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(c.buf[:], v)
	c.write(c.buf[:4])
}
func (c *countWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(c.buf[:], v)
	c.write(c.buf[:8])
}
func (c *countWriter) str(s string) {
	c.u64(uint64(len(s)))
	c.put(s)
}
func (c *countWriter) pad(a int) {
	if r := int(c.n % int64(a)); r != 0 {
		c.write(make([]byte, a-r))
	}
}

// typeOf maps a Go value to its GGUF value type.
func typeOf(v any) (uint32, error) {
	switch v.(type) {
	case uint8:
		return tU8, nil
	case int8:
		return tI8, nil
	case uint16:
		return tU16, nil
	case int16:
		return tI16, nil
	case uint32:
		return tU32, nil
	case int32:
		return tI32, nil
	case float32:
		return tF32, nil
	case bool:
		return tBool, nil
	case string:
		return tString, nil
	case uint64:
		return tU64, nil
	case int64:
		return tI64, nil
	case float64:
		return tF64, nil
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []uint64, []int64, []float64:
		return tArray, nil
	}
	return 0, fmt.Errorf("value of Go type %T has no GGUF type", v)
}

func writeScalar(c *countWriter, v any) {
	switch x := v.(type) {
	case uint8:
		c.write([]byte{x})
	case int8:
		c.write([]byte{byte(x)})
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		c.write([]byte{b})
	case uint16:
		c.write(binary.LittleEndian.AppendUint16(nil, x))
	case int16:
		c.write(binary.LittleEndian.AppendUint16(nil, uint16(x)))
	case uint32:
		c.u32(x)
	case int32:
		c.u32(uint32(x))
	case float32:
		c.u32(math.Float32bits(x))
	case uint64:
		c.u64(x)
	case int64:
		c.u64(uint64(x))
	case float64:
		c.u64(math.Float64bits(x))
	case string:
		c.str(x)
	}
}

func writeValue(c *countWriter, v any) {
	t, _ := typeOf(v)
	c.u32(t)
	switch x := v.(type) {
	case []uint8:
		writeArr(c, tU8, x)
	case []int8:
		writeArr(c, tI8, x)
	case []uint16:
		writeArr(c, tU16, x)
	case []int16:
		writeArr(c, tI16, x)
	case []uint32:
		writeArr(c, tU32, x)
	case []int32:
		writeArr(c, tI32, x)
	case []float32:
		writeArr(c, tF32, x)
	case []bool:
		writeArr(c, tBool, x)
	case []string:
		writeArr(c, tString, x)
	case []uint64:
		writeArr(c, tU64, x)
	case []int64:
		writeArr(c, tI64, x)
	case []float64:
		writeArr(c, tF64, x)
	default:
		writeScalar(c, v)
	}
}

func writeArr[T any](c *countWriter, et uint32, s []T) {
	c.u32(et)
	c.u64(uint64(len(s)))
	for _, e := range s {
		writeScalar(c, e)
	}
}
