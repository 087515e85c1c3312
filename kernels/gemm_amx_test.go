package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/tensor"
)

// TestNarrowBF16 checks the vector rounding against tensor.F32ToBF16 on
// ties, subnormals, infinities and NaNs, at lengths around the vector
// width, with and without the vector code.
func TestNarrowBF16(t *testing.T) { forEachImpl(t, testNarrowBF16) }

func testNarrowBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []uint32{0, 0x80000000, 0x00000001, 0x807fffff, 0x00008000, 0x00018000, 0x3f808000, 0x3f818000,
		0x3f80ffff, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7f800001, 0xffc00000, 0x7fffffff, 0x7f808000}
	for _, n := range []int{0, 1, 15, 16, 17, 33, 100} {
		src := make([]float32, n)
		for i := range src {
			if i%3 == 0 {
				src[i] = math.Float32frombits(special[rng.IntN(len(special))])
			} else {
				src[i] = math.Float32frombits(rng.Uint32())
			}
		}
		dst := make([]uint16, n+1)
		dst[n] = 0xabcd
		narrowBF16(dst[:n], src)
		for i, v := range src {
			if want := tensor.F32ToBF16(v); dst[i] != want {
				t.Fatalf("n=%d: bf16(%#08x) = %#04x, want %#04x", n, math.Float32bits(v), dst[i], want)
			}
		}
		if dst[n] != 0xabcd {
			t.Fatalf("n=%d: wrote past the end", n)
		}
	}
}

// TestPackPairBlocks checks the backward's B tiles against their
// definition on odd row counts and widths (the vector path does the full
// 32-column blocks of full row pairs, Go the rest).
func TestPackPairBlocks(t *testing.T) { forEachImpl(t, testPackPairBlocks) }

func testPackPairBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][2]int{{1, 1}, {2, 32}, {3, 33}, {31, 64}, {32, 95}, {64, 96}, {57, 130}} {
		rows, n := s[0], s[1]
		ld, half := n+3, roundUp(rows, 32)*16+32
		src := randHalf(rng, tensor.BF16, (rows-1)*ld+n)
		blocks := (n + 31) / 32
		dst := make([]uint16, blocks*2*half)
		for i := range dst {
			dst[i] = 0xffff
		}
		packPairBlocks(dst, src, ld, rows, n, half)
		for jb := range blocks {
			for h := range 2 {
				for q := range roundUp(rows, 32) / 2 {
					for j := range 16 {
						for e := range 2 {
							r, col := 2*q+e, 32*jb+16*h+j
							var want uint16
							if r < rows && col < n {
								want = src[r*ld+col]
							}
							if got := dst[(2*jb+h)*half+q*32+2*j+e]; got != want {
								t.Fatalf("%dx%d: block %d half %d row %d column %d pair %d = %#x, want %#x", rows, n, jb, h, q, j, e, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// TestTransposeBlock checks the forward's transposed store (gathers where
// the CPU has AVX-512) against its definition, storing and adding, with
// partial rows and columns.
func TestTransposeBlock(t *testing.T) { forEachImpl(t, testTransposeBlock) }

func testTransposeBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	src := make([]float32, 32*32)
	for i := range src {
		src[i] = rng.Float32()
	}
	for _, s := range [][2]int{{32, 32}, {1, 32}, {17, 32}, {32, 5}, {3, 31}} {
		m, cols := s[0], s[1]
		for _, add := range []bool{false, true} {
			const ldc = 37
			c := make([]float32, 32*ldc)
			for i := range c {
				c[i] = float32(i)
			}
			transposeBlock(c, ldc, src, m, cols, add)
			for i := range 32 {
				for j := range ldc {
					want := float32(i*ldc + j)
					if i < m && j < cols {
						if add {
							want += src[j*32+i]
						} else {
							want = src[j*32+i]
						}
					}
					if c[i*ldc+j] != want {
						t.Fatalf("m=%d cols=%d add=%v: C[%d][%d] = %v, want %v", m, cols, add, i, j, c[i*ldc+j], want)
					}
				}
			}
		}
	}
}
