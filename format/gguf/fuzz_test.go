package gguf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the parser: it must never panic, return
// only *Error, and whatever it accepts must dequantize inside the file.
//
//	go test -fuzz FuzzOpen ./format/gguf
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.gguf")
	q, _ := Quantize(make([]float32, 256), Q4_K)
	if err := Write(p, allKVs, []WriteTensor{
		{Name: "a", Type: Q4_K, Shape: []int{256}, Data: func() ([]byte, error) { return q, nil }},
		{Name: "b", Type: F32, Shape: []int{2, 1}, Data: func() ([]byte, error) { return make([]byte, 8), nil }},
	}); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(p)
	f.Add(seed)
	if b, err := os.ReadFile(filepath.Join("testdata", "ref-tiny-llama.gguf")); err == nil {
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add(start(1, 1).b)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := FromBytes("fuzz", data)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, ti := range g.Tensors {
			if ti.Numel() > 1<<20 {
				continue
			}
			if _, err := g.Float32(ti.Name); err != nil {
				t.Fatalf("accepted tensor %q does not decode: %v", ti.Name, err)
			}
		}
	})
}
