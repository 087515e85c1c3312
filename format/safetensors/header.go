package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"sort"
)

// header is the validated content of a safetensors header.
type header struct {
	infos    map[string]Info
	names    []string // sorted
	metadata map[string]string
}

// rawEntry is one tensor entry as it appears in the JSON. Offsets are read as
// json.Number so values beyond int64 or non-integers are reported as span
// errors rather than generic JSON errors.
type rawEntry struct {
	DType       *string       `json:"dtype"`
	Shape       []json.Number `json:"shape"`
	DataOffsets []json.Number `json:"data_offsets"`
}

// parseHeader validates the JSON header of file (used in messages only)
// against a data area of dataLen bytes. It never trusts a number before
// checking it and allocates in proportion to len(js) only.
func parseHeader(file string, js []byte, dataLen int64) (*header, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, newError(file, "", ErrHeader, "header is not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, newError(file, "", ErrHeader, "header is not a JSON object")
	}
	h := &header{infos: map[string]Info{}}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, newError(file, "", ErrHeader, "header is not valid JSON: %v", err)
		}
		name := tok.(string) // object keys are always strings
		if name == "__metadata__" {
			if seenMeta {
				return nil, newError(file, "", ErrDuplicate, "__metadata__ appears twice")
			}
			seenMeta = true
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return nil, newError(file, "", ErrHeader, "__metadata__ must map strings to strings: %v", err)
			}
			h.metadata = meta
			continue
		}
		if _, dup := h.infos[name]; dup {
			return nil, newError(file, name, ErrDuplicate, "name appears twice in the header")
		}
		var raw rawEntry
		if err := dec.Decode(&raw); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, newError(file, name, ErrHeader, "header is not valid JSON: %v", err)
			}
			return nil, newError(file, name, ErrHeader, "entry must be {dtype, shape, data_offsets}: %v", err)
		}
		info, err := checkEntry(file, name, &raw, dataLen)
		if err != nil {
			return nil, err
		}
		h.infos[name] = info
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, newError(file, "", ErrHeader, "header is not valid JSON: %v", err)
	}
	// Only padding may follow the object (HF pads with spaces).
	if rest := bytes.TrimRight(js[dec.InputOffset():], " \t\r\n\x00"); len(rest) != 0 {
		return nil, newError(file, "", ErrHeader, "unexpected data after the header JSON")
	}
	if h.metadata == nil {
		h.metadata = map[string]string{}
	}
	h.names = make([]string, 0, len(h.infos))
	for n := range h.infos {
		h.names = append(h.names, n)
	}
	sort.Strings(h.names)
	if err := checkOverlap(file, h); err != nil {
		return nil, err
	}
	return h, nil
}

func checkEntry(file, name string, raw *rawEntry, dataLen int64) (Info, error) {
	if raw.DType == nil {
		return Info{}, newError(file, name, ErrDType, "dtype missing")
	}
	size, ok := dtypeSizes[*raw.DType]
	if !ok {
		return Info{}, newError(file, name, ErrDType, "unknown dtype %q", *raw.DType)
	}
	if raw.Shape == nil {
		return Info{}, newError(file, name, ErrShape, "shape missing")
	}
	info := Info{DType: *raw.DType, Shape: make([]int, len(raw.Shape))}
	nbytes := size
	for i, num := range raw.Shape {
		d, err := num.Int64()
		if err != nil || d < 0 || uint64(d) > math.MaxInt {
			return Info{}, newError(file, name, ErrShape, "dimension %d is %s, not a non-negative integer", i, num)
		}
		info.Shape[i] = int(d)
		if d != 0 && nbytes > math.MaxInt64/d {
			return Info{}, newError(file, name, ErrShape, "shape %s × %s overflows int64", raw.Shape, info.DType)
		}
		nbytes *= d
	}
	if len(raw.DataOffsets) != 2 {
		return Info{}, newError(file, name, ErrSpan, "data_offsets must be [begin, end], got %d numbers", len(raw.DataOffsets))
	}
	b, err1 := raw.DataOffsets[0].Int64()
	e, err2 := raw.DataOffsets[1].Int64()
	if err1 != nil || err2 != nil || b < 0 || e < b {
		return Info{}, newError(file, name, ErrSpan, "data_offsets [%s, %s] are not 0 <= begin <= end", raw.DataOffsets[0], raw.DataOffsets[1])
	}
	if e > dataLen {
		return Info{}, newError(file, name, ErrSpan, "data_offsets [%d, %d] end beyond the data area of %d bytes", b, e, dataLen)
	}
	info.Begin, info.End = b, e
	if nbytes != e-b {
		return Info{}, newError(file, name, ErrShape, "shape %v × %s = %d bytes but span is %d bytes", info.Shape, info.DType, nbytes, e-b)
	}
	return info, nil
}

// checkOverlap sorts the spans by start and requires each to begin at or after
// the end of the previous one. Gaps are tolerated (the format allows them).
func checkOverlap(file string, h *header) error {
	byBegin := make([]string, len(h.names))
	copy(byBegin, h.names)
	sort.SliceStable(byBegin, func(i, j int) bool {
		a, b := h.infos[byBegin[i]], h.infos[byBegin[j]]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var prev string
	var prevEnd int64
	for _, n := range byBegin {
		in := h.infos[n]
		if in.Begin == in.End { // empty tensors occupy no bytes
			continue
		}
		if prev != "" && in.Begin < prevEnd {
			return newError(file, n, ErrOverlap, "span [%d, %d] overlaps tensor %q ending at %d", in.Begin, in.End, prev, prevEnd)
		}
		prev, prevEnd = n, in.End
	}
	return nil
}
