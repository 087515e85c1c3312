package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// FuzzHeader feeds arbitrary header JSON (with a data area of arbitrary
// length) through the parser: it must never panic, and whatever it accepts
// must satisfy every invariant the readers rely on.
//
//	go test -fuzz FuzzHeader ./format/safetensors
func FuzzHeader(f *testing.F) {
	for _, p := range []string{
		filepath.Join("tiny-gpt2", "model.safetensors"),
		filepath.Join("ops", "ops.safetensors"),
		filepath.Join("lora-tiny-qwen2", "adapter_model.safetensors"),
	} {
		if b, err := os.ReadFile(filepath.Join(fixturesRoot(), p)); err == nil && len(b) >= 8 {
			n := binary.LittleEndian.Uint64(b)
			if n <= uint64(len(b)-8) {
				f.Add(b[8:8+n], uint32(uint64(len(b))-8-n))
			}
		}
	}
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`), uint32(24))
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`), uint32(2))
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`), uint32(12))
	f.Add([]byte(`{"a":{"dtype":"I64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`), uint32(0))
	f.Add([]byte(`[]`), uint32(0))
	f.Fuzz(func(t *testing.T, js []byte, dataLen uint32) {
		dataLen %= 1 << 16 // keep each run cheap so the fuzzer explores headers
		file := make([]byte, 8+len(js)+int(dataLen))
		binary.LittleEndian.PutUint64(file, uint64(len(js)))
		copy(file[8:], js)
		for i := 8 + len(js); i < len(file); i++ {
			file[i] = byte(i * 31)
		}
		st, err := FromBytes("fuzz", file)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		type span struct{ b, e int64 }
		var spans []span
		for _, n := range st.Names() {
			in, ok := st.Info(n)
			if !ok {
				t.Fatalf("name %q without info", n)
			}
			size, _ := DTypeSize(in.DType)
			if in.Begin < 0 || in.End < in.Begin || in.End > int64(dataLen) || in.Numel()*int64(size) != in.End-in.Begin {
				t.Fatalf("accepted bad entry %q: %+v (data %d)", n, in, dataLen)
			}
			if in.End > in.Begin {
				spans = append(spans, span{in.Begin, in.End})
			}
			// Reading must succeed or fail cleanly for every dtype.
			st.Tensor(n)
			st.Int64(n)
			st.Float64(n)
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].b < spans[j].b })
		for i := 1; i < len(spans); i++ {
			if spans[i].b < spans[i-1].e {
				t.Fatalf("accepted overlapping spans %v", spans)
			}
		}
	})
}

func fixturesRoot() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "fixtures")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
