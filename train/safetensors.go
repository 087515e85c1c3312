package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/golora/golora/tensor"
)

// The trainer state is a plain F32 safetensors file. This small private
// codec keeps the engine independent of format/safetensors; it writes the
// same layout (tensors sorted by name, packed, header padded to 8 bytes).

type stEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

func writeSafetensors(w io.Writer, tensors map[string]*tensor.Tensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, n := range names {
		t := tensors[n]
		header[n] = stEntry{DType: "F32", Shape: append([]int{}, t.Shape...), Offsets: [2]int64{off, off + 4*int64(t.Len())}}
		off += 4 * int64(t.Len())
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hb)))
	if _, err := w.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := w.Write(hb); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, n := range names {
		for _, v := range tensors[n].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// readSafetensors reads an F32 safetensors file whole, validating the header
// against the file size before trusting any offset.
func readSafetensors(path string) (map[string]*tensor.Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("%s: too short for a safetensors header", path)
	}
	hl := binary.LittleEndian.Uint64(b[:8])
	if hl > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("%s: header length %d exceeds the file", path, hl)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &raw); err != nil {
		return nil, nil, fmt.Errorf("%s: header: %w", path, err)
	}
	data := b[8+hl:]
	out := map[string]*tensor.Tensor{}
	var meta map[string]string
	for name, r := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(r, &meta); err != nil {
				return nil, nil, fmt.Errorf("%s: metadata: %w", path, err)
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, nil, fmt.Errorf("%s: tensor %s: %w", path, name, err)
		}
		if e.DType != "F32" {
			return nil, nil, fmt.Errorf("%s: tensor %s: dtype %s, want F32", path, name, e.DType)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("%s: tensor %s: bad shape %v", path, name, e.Shape)
			}
			n *= int64(d)
		}
		if e.Offsets[0] < 0 || e.Offsets[1] != e.Offsets[0]+4*n || e.Offsets[1] > int64(len(data)) {
			return nil, nil, fmt.Errorf("%s: tensor %s: offsets %v do not fit shape %v and %d data bytes", path, name, e.Offsets, e.Shape, len(data))
		}
		t := tensor.New(e.Shape...)
		src := data[e.Offsets[0]:e.Offsets[1]]
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		out[name] = t
	}
	return out, meta, nil
}
