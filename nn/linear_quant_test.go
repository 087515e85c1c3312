package nn

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// TestQuantLinear checks a Linear on a quantized weight against float64
// products with the dequantized weight, on odd shapes (rows not a multiple
// of the panel, several n): Forward (x·Wᵀ + b), Backward's dx += dy·W,
// and the int8 generation path ForwardQuantActs within its stated error
// (and, for Q4_K, packed or not, equal to GemmQuant up to rounding).
func TestQuantLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, c := range []struct {
		dt      tensor.DType
		out, in int
	}{{tensor.Q8_0, 67, 96}, {tensor.Q8_0, 131, 32}, {tensor.Q4_K, 37, 512}, {tensor.Q4_K, 1, 256}} {
		w := tensor.New(c.out, c.in)
		for i := range w.Data {
			w.Data[i] = float32(r.NormFloat64() * 0.05)
		}
		qw, err := QuantizeWeight(w, c.dt)
		if err != nil {
			t.Fatal(err)
		}
		if qw.DType != c.dt || len(qw.Quant)*8 > c.out*c.in*9 {
			t.Fatalf("%v: %d bytes for %d weights", qw.DType, len(qw.Quant), c.out*c.in)
		}
		deq, blocks := qw.Float32(), qw.Quant // ForwardQuantActs may pack and drop qw.Quant
		b := tensor.New(c.out)
		for i := range b.Data {
			b.Data[i] = float32(r.NormFloat64())
		}
		l := &Linear{W: qw, B: b}
		for _, n := range []int{1, 3, 17} {
			x := make([]float32, n*c.in)
			dy := make([]float32, n*c.out)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			for i := range dy {
				dy[i] = float32(r.NormFloat64())
			}
			y := make([]float32, n*c.out)
			for i := range y {
				y[i] = float32(math.NaN()) // overwritten, never read
			}
			l.Forward(x, y, n)
			yq := make([]float32, n*c.out)
			var acts kernels.QActs
			l.ForwardQuantActs(&acts, x, yq, n)
			// the Q4_K rows packed for decode give the GGUF rows' products
			// up to float32 rounding
			yg := make([]float32, n*c.out)
			kernels.GemmQuant(&acts, blocks, c.out, yg, c.out)
			for i, v := range yg {
				if d := math.Abs(float64(yq[i] - v - b.Data[i%c.out])); d > 1e-5*(1+math.Abs(float64(v))) {
					t.Fatalf("%v %dx%d n=%d: int8 output %d = %g, GemmQuant on the GGUF rows %g", c.dt, c.out, c.in, n, i, yq[i]-b.Data[i%c.out], v)
				}
			}
			dx := make([]float32, n*c.in)
			for i := range dx {
				dx[i] = 1 // accumulated into
			}
			l.Backward(x, dy, dx, n)
			for i := 0; i < n; i++ {
				for o := 0; o < c.out; o++ {
					want, mag := float64(b.Data[o]), 0.0
					for k := 0; k < c.in; k++ {
						p := float64(x[i*c.in+k]) * float64(deq[o*c.in+k])
						want += p
						mag += math.Abs(p)
					}
					if d := math.Abs(float64(y[i*c.out+o]) - want); d > 1e-5*(1+mag) {
						t.Fatalf("%v %dx%d n=%d: y[%d,%d] = %g, want %g", c.dt, c.out, c.in, n, i, o, y[i*c.out+o], want)
					}
					if d := math.Abs(float64(yq[i*c.out+o]) - want); d > 0.01*mag+1e-5 {
						t.Fatalf("%v %dx%d n=%d: int8 y[%d,%d] = %g, want %g", c.dt, c.out, c.in, n, i, o, yq[i*c.out+o], want)
					}
				}
				for k := 0; k < c.in; k++ {
					want := 1.0
					for o := 0; o < c.out; o++ {
						want += float64(dy[i*c.out+o]) * float64(deq[o*c.in+k])
					}
					if d := math.Abs(float64(dx[i*c.in+k]) - want); d > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%v %dx%d n=%d: dx[%d,%d] = %g, want %g", c.dt, c.out, c.in, n, i, k, dx[i*c.in+k], want)
					}
				}
			}
		}
	}
	if _, err := QuantizeWeight(tensor.New(4, 33), tensor.Q8_0); err == nil {
		t.Error("a row of 33 quantized as Q8_0")
	}
}

// TestPackForDecode: a Q4_K W is packed once and its blocks dropped (one
// copy of the weight), every reader of the blocks then gets them back
// bit-identical from the tiles (Float32 for the savers, CopyRow for the
// embedding lookup, Forward and Backward's panels for training and
// evaluation), new blocks set on W are packed anew, and other dtypes are
// never packed.
func TestPackForDecode(t *testing.T) {
	if !kernels.PackQ4KPays() {
		t.Skip("no kernel for packed Q4_K tiles on this CPU: ForwardQuantActs reads the GGUF rows")
	}
	r := rand.New(rand.NewPCG(3, 3))
	const out, in, n = 37, 512, 5
	quant := func(dt tensor.DType) *tensor.Tensor {
		w := tensor.New(out, in)
		for i := range w.Data {
			w.Data[i] = float32(r.NormFloat64())
		}
		q, err := QuantizeWeight(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	rnd := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	l := &Linear{W: quant(tensor.Q4_K)}
	blocks := bytes.Clone(l.W.Quant)
	x, dy := rnd(n*in), rnd(n*out)
	// what the readers give before packing
	f32, row := l.W.Float32(), make([]float32, in)
	l.W.CopyRow(row, 29)
	y, dx := make([]float32, n*out), make([]float32, n*in)
	l.Forward(x, y, n)
	l.Backward(x, dy, dx, n)

	p := l.PackForDecode()
	if p == nil || l.PackForDecode() != p {
		t.Fatal("Q4_K weight not packed once and kept")
	}
	if l.W.Quant != nil || l.W.Tiles != p {
		t.Fatal("the GGUF blocks are still held beside the packed tiles")
	}
	if !bytes.Equal(l.W.QuantRows(0, out), blocks) {
		t.Fatal("the tiles do not give back the GGUF blocks")
	}
	row2, y2, dx2 := make([]float32, in), make([]float32, n*out), make([]float32, n*in)
	l.W.CopyRow(row2, 29)
	l.Forward(x, y2, n)
	l.Backward(x, dy, dx2, n)
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"Float32", l.W.Float32(), f32}, {"CopyRow", row2, row}, {"Forward", y2, y}, {"Backward", dx2, dx}} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s after packing differs from before", c.name)
		}
	}

	l.W = quant(tensor.Q4_K)
	blocks = bytes.Clone(l.W.Quant)
	if l.PackForDecode() == p {
		t.Fatal("replaced weight bytes still use the old packing")
	}
	ys, want := make([]float32, n*out), make([]float32, n*out)
	var a kernels.QActs
	l.ForwardQuantActs(&a, x, ys, n)
	kernels.GemmQuant(&a, blocks, out, want, out)
	for o := range ys {
		if math.Abs(float64(ys[o]-want[o])) > 1e-4*(1+math.Abs(float64(want[o]))) {
			t.Fatalf("output %d after repacking: %g, the new weight's %g", o, ys[o], want[o])
		}
	}
	if (&Linear{W: quant(tensor.Q8_0)}).PackForDecode() != nil {
		t.Fatal("a Q8_0 weight was packed as Q4_K")
	}
}
