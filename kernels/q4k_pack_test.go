package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/tensor"
)

// TestPackQ4KRoundTrip checks that UnpackRows restores any bytes PackQ4K
// was given (every 6-bit scale and nibble position), rows not a multiple of
// the group, whole or any range of rows.
func TestPackQ4KRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range [][2]int{{1, 256}, {16, 512}, {37, 768}} {
		w := make([]byte, c[0]*tensor.Q4_K.RowBytes(c[1]))
		for i := range w {
			w[i] = byte(r.Uint32())
		}
		p, rb := PackQ4K(w, c[0], c[1]), tensor.Q4_K.RowBytes(c[1])
		if got := p.UnpackRows(0, c[0]); !bytes.Equal(got, w) {
			t.Fatalf("[%d, %d]: UnpackRows(PackQ4K(w)) differs from w", c[0], c[1])
		}
		lo, hi := c[0]/3, c[0]-c[0]/4
		if got := p.UnpackRows(lo, hi); !bytes.Equal(got, w[lo*rb:hi*rb]) {
			t.Fatalf("[%d, %d]: UnpackRows(%d, %d) differs from those rows", c[0], c[1], lo, hi)
		}
	}
}

// TestGemmQ4KPacked checks the packed products, every implementation, on
// odd shapes (rows not a multiple of 16) against the float64 product of
// the dequantized weights with the dequantized int8 activations, and that
// each row's outputs are bit-identical whether it is multiplied alone or
// in a batch (row-exact serving relies on it).
func TestGemmQ4KPacked(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		var a, a1 QActs
		for _, c := range []struct{ n, out, in int }{{1, 1, 256}, {3, 16, 512}, {5, 37, 768}, {2, 50, 2048}} {
			wf := make([]float32, c.out*c.in)
			for i := range wf {
				wf[i] = float32(r.NormFloat64()*0.05 + 0.01)
			}
			w, err := gguf.Quantize(wf, gguf.Q4_K)
			if err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, len(wf))
			if err := gguf.Dequantize(deq, w, gguf.Q4_K); err != nil {
				t.Fatal(err)
			}
			x := make([]float32, c.n*c.in)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 3)
			}
			p := PackQ4K(w, c.out, c.in)
			a.QuantizeActs(tensor.Q4_K, x, c.n, c.in)
			ldy := c.out + 3
			y := make([]float32, c.n*ldy)
			for i := range y {
				y[i] = guardVal
			}
			GemmQ4KPacked(&a, p, y, ldy)
			y1 := make([]float32, c.out)
			for i := range c.n {
				for o := range c.out {
					var viaQ, mag float64
					for k := range c.in {
						wx := float64(deq[o*c.in+k]) * float64(a.D[(i*c.in+k)/256]) * float64(a.Q[i*c.in+k])
						viaQ += wx
						mag += math.Abs(wx)
					}
					if got := float64(y[i*ldy+o]); math.Abs(got-viaQ) > 1e-5*mag+1e-7 {
						t.Fatalf("%dx%dx%d: y[%d,%d] = %g, int8 reference %g", c.n, c.out, c.in, i, o, got, viaQ)
					}
				}
				for o := c.out; o < ldy; o++ {
					if y[i*ldy+o] != guardVal {
						t.Fatalf("%dx%dx%d: y[%d,%d] beyond out written", c.n, c.out, c.in, i, o)
					}
				}
				a1.QuantizeActs(tensor.Q4_K, x[i*c.in:(i+1)*c.in], 1, c.in)
				GemmQ4KPacked(&a1, p, y1, c.out)
				for o, v := range y1 {
					if math.Float32bits(v) != math.Float32bits(y[i*ldy+o]) {
						t.Fatalf("%dx%dx%d: row %d output %d alone %g, in the batch %g", c.n, c.out, c.in, i, o, v, y[i*ldy+o])
					}
				}
			}
		}
	})
}

// BenchmarkGemvQ4K is one decode row's product (QuantizeActs included)
// with a 2048×2048 and an 8192×2048 Q4_K matrix (the 1.2B Llama's
// attention and MLP shapes): GemmQuant on the GGUF rows against
// GemmQ4KPacked on the packed tiles, alternating in max(5, b.N) rounds of
// 50 products each; it reports the medians per product and of the
// per-round ratio gguf/packed. Run with -benchtime 1x (5 rounds) or Nx.
func BenchmarkGemvQ4K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, out := range []int{2048, 8192} {
		in := 2048
		wf := make([]float32, out*in)
		for i := range wf {
			wf[i] = float32(r.NormFloat64())
		}
		w, err := gguf.Quantize(wf, gguf.Q4_K)
		if err != nil {
			b.Fatal(err)
		}
		p := PackQ4K(w, out, in)
		x, y := wf[:in], make([]float32, out)
		var a QActs
		b.Run(fmt.Sprintf("%dx%d", out, in), func(b *testing.B) {
			const reps = 50
			var gg, pk, ratio []float64
			for range max(5, b.N) {
				t0 := time.Now()
				for range reps {
					a.QuantizeActs(tensor.Q4_K, x, 1, in)
					GemmQuant(&a, w, out, y, out)
				}
				t1 := time.Now()
				for range reps {
					a.QuantizeActs(tensor.Q4_K, x, 1, in)
					GemmQ4KPacked(&a, p, y, out)
				}
				t2 := time.Now()
				gg, pk = append(gg, float64(t1.Sub(t0).Nanoseconds())/reps), append(pk, float64(t2.Sub(t1).Nanoseconds())/reps)
				ratio = append(ratio, gg[len(gg)-1]/pk[len(pk)-1])
			}
			b.ReportMetric(median64(gg), "gguf-ns/op")
			b.ReportMetric(median64(pk), "packed-ns/op")
			b.ReportMetric(median64(ratio), "gguf/packed")
			b.ReportMetric(float64(len(w))/median64(pk), "packed-GB/s")
		})
	}
}

func median64(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestQuantizeActs checks the activation quantizer, every implementation,
// against float64: scales max|x|/127 per block, values rounded to the
// nearest (ties to even), Q4_K's sums per 32; an all-zero block gets scale
// 0 and zeros, and odd block counts from an odd offset.
func TestQuantizeActs(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		var a QActs
		for _, c := range []struct {
			dt    tensor.DType
			n, in int
		}{{tensor.Q8_0, 3, 96}, {tensor.Q4_K, 2, 768}, {tensor.Q8_0, 1, 32}, {tensor.Q4_K, 3, 256}} {
			buf := make([]float32, c.n*c.in+1)
			x := buf[1:]
			for i := range x {
				x[i] = float32(r.NormFloat64() * math.Exp(r.NormFloat64()))
			}
			bs := c.dt.BlockSize()
			clear(x[len(x)-bs:]) // an all-zero block
			a.QuantizeActs(c.dt, x, c.n, c.in)
			for b := range c.n * c.in / bs {
				amax := 0.0
				for _, v := range x[b*bs : (b+1)*bs] {
					amax = math.Max(amax, math.Abs(float64(v)))
				}
				if d := float64(a.D[b]); math.Abs(d-amax/127) > 1e-6*amax/127 {
					t.Fatalf("%v [%d, %d]: block %d scale %g, want %g", c.dt, c.n, c.in, b, d, amax/127)
				}
				for i := b * bs; i < (b+1)*bs; i++ {
					want := 0.0
					if a.D[b] != 0 {
						want = float64(x[i]) / float64(a.D[b])
					}
					if math.Abs(float64(a.Q[i])-want) > 0.5+1e-4 {
						t.Fatalf("%v [%d, %d]: value %d = %d, want %g", c.dt, c.n, c.in, i, a.Q[i], want)
					}
				}
			}
			if c.dt == tensor.Q4_K {
				for s := range c.n * c.in / 32 {
					var want int32
					for _, v := range a.Q[32*s : 32*s+32] {
						want += int32(v)
					}
					if a.Sums[s] != want {
						t.Fatalf("%v [%d, %d]: sum %d = %d, want %d", c.dt, c.n, c.in, s, a.Sums[s], want)
					}
				}
			}
		}
	})
}

// BenchmarkQuantizeActs quantizes one 2048-wide row for Q4_K weights (the
// 1.2B Llama's hidden size) with each implementation.
func BenchmarkQuantizeActs(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 2048)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	var a QActs
	for _, name := range impls() {
		b.Run(name, func(b *testing.B) {
			selectImpl(name)
			defer selectImpl("")
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				a.QuantizeActs(tensor.Q4_K, x, 1, len(x))
			}
		})
	}
}
