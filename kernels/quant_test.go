package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/tensor"
)

// TestGemmQuant checks the int8 products on odd shapes, with every
// implementation, against two float64 references: the exact product with
// the dequantized weights (within the int8 activations' error), and the
// product of the dequantized weights with the dequantized activations
// (which the integer kernels must match up to float32 rounding).
func TestGemmQuant(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		var a QActs // reused across dtypes, as a model with both does
		for _, c := range []struct {
			dt         tensor.DType
			n, out, in int
		}{{tensor.Q8_0, 1, 7, 96}, {tensor.Q8_0, 5, 33, 32}, {tensor.Q8_0, 3, 65, 800}, {tensor.Q4_K, 1, 5, 256}, {tensor.Q4_K, 4, 19, 768}, {tensor.Q4_K, 7, 3, 512}, {tensor.Q8_0, 2, 9, 64}} {
			gt := map[tensor.DType]gguf.Type{tensor.Q8_0: gguf.Q8_0, tensor.Q4_K: gguf.Q4_K}[c.dt]
			wf := make([]float32, c.out*c.in)
			for i := range wf {
				wf[i] = float32(r.NormFloat64()*0.05 + 0.01)
			}
			w, err := gguf.Quantize(wf, gt)
			if err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, len(wf))
			if err := gguf.Dequantize(deq, w, gt); err != nil {
				t.Fatal(err)
			}
			x := make([]float32, c.n*c.in)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			x[0] = 0 // a zero and an all-zero block must not divide by zero
			for i := range c.in {
				x[(c.n-1)*c.in+i] = 0
			}
			a.QuantizeActs(c.dt, x, c.n, c.in)
			ldy := c.out + 2
			y := make([]float32, c.n*ldy)
			for i := range y {
				y[i] = guardVal
			}
			GemmQuant(&a, w, c.out, y, ldy)
			bs := c.dt.BlockSize()
			for i := 0; i < c.n; i++ {
				for o := 0; o < c.out; o++ {
					var exact, viaQ, mag float64
					for k := 0; k < c.in; k++ {
						wk := float64(deq[o*c.in+k])
						xq := float64(a.D[(i*c.in+k)/bs]) * float64(a.Q[i*c.in+k])
						exact += wk * float64(x[i*c.in+k])
						viaQ += wk * xq
						mag += math.Abs(wk * float64(x[i*c.in+k]))
					}
					got := float64(y[i*ldy+o])
					if d := math.Abs(got - viaQ); d > 1e-5*mag+1e-7 {
						t.Fatalf("%v %dx%dx%d: y[%d,%d] = %g, int8 reference %g", c.dt, c.n, c.out, c.in, i, o, got, viaQ)
					}
					if d := math.Abs(got - exact); d > 0.01*mag+1e-7 {
						t.Fatalf("%v %dx%dx%d: y[%d,%d] = %g, float64 %g", c.dt, c.n, c.out, c.in, i, o, got, exact)
					}
				}
				for o := c.out; o < ldy; o++ {
					if y[i*ldy+o] != guardVal {
						t.Fatalf("%v: y[%d,%d] beyond out written", c.dt, i, o)
					}
				}
			}
		}
	})
}

// TestQ4_KScales checks the packed 6-bit scale unpacking of every byte
// pattern position against gguf's decoder, through single-weight blocks.
func TestQ4_KScales(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		var p [12]byte
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		sc, m := unpackScalesK4(p[:])
		blk := make([]byte, 144)
		blk[1] = 0x3c // d = 1 (fp16)
		blk[3] = 0x3c // dmin = 1
		copy(blk[4:], p[:])
		deq := make([]float32, 256)
		if err := gguf.Dequantize(deq, blk, gguf.Q4_K); err != nil {
			t.Fatal(err)
		}
		for j := range 8 { // all nibbles 0: value = -m_j
			if deq[32*j] != -float32(m[j]) {
				t.Fatalf("min %d: %d, gguf %v", j, m[j], -deq[32*j])
			}
		}
		for i := 16; i < 144; i++ {
			blk[i] = 0x11
		}
		if err := gguf.Dequantize(deq, blk, gguf.Q4_K); err != nil {
			t.Fatal(err)
		}
		for j := range 8 { // nibbles 1: sc_j - m_j
			if deq[32*j] != float32(sc[j])-float32(m[j]) {
				t.Fatalf("scale %d: %d, gguf %v", j, sc[j], deq[32*j]+float32(m[j]))
			}
		}
	}
}

func BenchmarkGemvQuant(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_K} {
		out, in := 2048, 2048
		w := make([]byte, out*dt.RowBytes(in))
		r := rand.New(rand.NewPCG(1, 2))
		for i := range w {
			w[i] = byte(r.Uint32())
		}
		for o := 0; o < len(w); o += dt.RowBytes(in) / (in / dt.BlockSize()) { // finite fp16 scales
			w[o+1] &= 0x3b
			if dt == tensor.Q4_K {
				w[o+3] &= 0x3b
			}
		}
		x := make([]float32, in)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		y := make([]float32, out)
		var a QActs
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				a.QuantizeActs(dt, x, 1, in)
				GemmQuant(&a, w, out, y, out)
			}
		})
	}
}

// TestDequant checks the block decoders, every implementation, against
// format/gguf's Dequantize on random blocks (any bytes are valid values;
// scales random finite fp16 of both signs), 1 to 9 blocks from an odd
// address, with guards after the output.
func TestDequant(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_K} {
			gt, _ := gguf.TypeOf(dt)
			for _, nb := range []int{1, 2, 3, 4, 7, 9} {
				n, bb := nb*dt.BlockSize(), gt.BlockBytes()
				buf := make([]byte, nb*bb+1)
				for i := range buf {
					buf[i] = byte(r.IntN(256))
				}
				src := buf[1:]
				for b := 0; b < nb; b++ {
					for f := 0; f < 1+bool2int(dt == tensor.Q4_K); f++ { // d (and dmin)
						h := uint16(r.IntN(0x3c00)) | uint16(r.IntN(2))<<15 // below 2^(15-15+1): finite
						src[b*bb+2*f], src[b*bb+2*f+1] = byte(h), byte(h>>8)
					}
				}
				want := make([]float32, n)
				if err := gguf.Dequantize(want, src, gt); err != nil {
					t.Fatal(err)
				}
				out := make([]float32, n+3)
				for i := range out {
					out[i] = guardVal
				}
				Dequant(dt, out[:n], src)
				scale := float64(0)
				for _, v := range want {
					scale = max(scale, math.Abs(float64(v)))
				}
				for i, v := range want {
					if math.Abs(float64(out[i]-v)) > 1e-5*scale {
						t.Fatalf("%v, %d blocks: value %d = %g, want %g", dt, nb, i, out[i], v)
					}
				}
				for i := n; i < len(out); i++ {
					if out[i] != guardVal {
						t.Fatalf("%v, %d blocks: wrote past the end (index %d)", dt, nb, i)
					}
				}
			}
		}
	})
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkDequant decodes a 64-row panel of 2048-wide rows (what a
// quantized Linear's products decode per Sgemm call) with each
// implementation and with gguf.Dequantize, the format's reference.
func BenchmarkDequant(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_K} {
		gt, _ := gguf.TypeOf(dt)
		r := rand.New(rand.NewPCG(1, 2))
		wf := make([]float32, 64*2048)
		for i := range wf {
			wf[i] = float32(r.NormFloat64())
		}
		w, err := gguf.Quantize(wf, gt)
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range impls() {
			b.Run(dt.String()+"/"+name, func(b *testing.B) {
				selectImpl(name)
				defer selectImpl("")
				b.SetBytes(int64(4 * len(wf)))
				for b.Loop() {
					Dequant(dt, wf, w)
				}
			})
		}
		b.Run(dt.String()+"/gguf", func(b *testing.B) {
			b.SetBytes(int64(4 * len(wf)))
			for b.Loop() {
				gguf.Dequantize(wf, w, gt)
			}
		})
	}
}
