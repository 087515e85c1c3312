package safetensors

import (
	"github.com/golora/golora/internal/testutil"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/golora/golora/tensor"
)

func benchFile(b *testing.B, dtype string, mb int) string {
	b.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	m := map[string]*tensor.Tensor{}
	const rows, cols = 1024, 1024 // 4 MB per float32 tensor
	n := mb << 20 / (rows * cols * 4)
	if n == 0 {
		n = 1
	}
	for i := range n {
		t := tensor.New(rows, cols)
		for j := range t.Data {
			t.Data[j] = float32(r.NormFloat64())
		}
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = t
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := WriteDType(path, m, nil, dtype); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkLoad opens a ~100 MB file (F32: 100 MB, BF16: 50 MB on disk) and
// reads every tensor as float32; MB/s counts float32 bytes produced.
func BenchmarkLoad(b *testing.B) {
	mb := 100
	if testing.Short() {
		mb = 16
	}
	for _, dtype := range []string{"F32", "BF16", "F16"} {
		for _, mmap := range []bool{true, false} {
			name := dtype + "/mmap"
			if !mmap {
				name = dtype + "/pread"
			}
			path := benchFile(b, dtype, mb)
			b.Run(name, func(b *testing.B) {
				noMmap = !mmap
				defer func() { noMmap = false }()
				b.SetBytes(int64(mb) << 20)
				for b.Loop() {
					f, err := Open(path)
					if err != nil {
						b.Fatal(err)
					}
					for _, n := range f.Names() {
						if _, err := f.Tensor(n); err != nil {
							b.Fatal(err)
						}
					}
					f.Close()
				}
			})
			// ReadInto a reused arena: the conversion without allocation
			// and first-touch page faults of fresh memory.
			b.Run(name+"/into", func(b *testing.B) {
				noMmap = !mmap
				defer func() { noMmap = false }()
				f, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				arena := make([]float32, mb<<20/4)
				b.SetBytes(int64(mb) << 20)
				for b.Loop() {
					off := 0
					for _, n := range f.Names() {
						in, _ := f.Info(n)
						if err := f.ReadInto(n, arena[off:off+int(in.Numel())]); err != nil {
							b.Fatal(err)
						}
						off += int(in.Numel())
					}
				}
			})
		}
	}
}

// BenchmarkLoadTiny opens the tiny-gpt2 fixture and reads all its tensors:
// the per-file overhead (header parse, mmap) for small models.
func BenchmarkLoadTiny(b *testing.B) {
	path := testutil.Shared(b, "fixtures", "tiny-gpt2", "model.safetensors")
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range f.Names() {
			f.Tensor(n)
		}
		f.Close()
	}
}

// BenchmarkDecodeBF16 and BenchmarkDecodeF16 time the widening loops alone
// (MB/s of float32 produced), against the generic per-element conversion.
func BenchmarkDecode(b *testing.B) {
	const n = 1 << 20
	src := make([]byte, 2*n)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := make([]float32, n)
	b.Run("BF16", func(b *testing.B) {
		b.SetBytes(4 * n)
		for b.Loop() {
			DecodeBF16(dst, src)
		}
	})
	b.Run("F16", func(b *testing.B) {
		b.SetBytes(4 * n)
		for b.Loop() {
			DecodeF16(dst, src)
		}
	})
	b.Run("F16/generic", func(b *testing.B) {
		b.SetBytes(4 * n)
		for b.Loop() {
			for i := range dst {
				dst[i] = tensor.F16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
			}
		}
	})
	b.Run("F32", func(b *testing.B) {
		src := make([]byte, 4*n)
		b.SetBytes(4 * n)
		for b.Loop() {
			DecodeF32(dst, src)
		}
	})
}
