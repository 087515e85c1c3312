package tensor

import (
	"math"
	"testing"
)

func TestViewsShareStorage(t *testing.T) {
	x := New(2, 3, 4)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	row := x.Index(1)
	if !SameShape(row.Shape, []int{3, 4}) || row.Data[0] != 12 {
		t.Fatalf("Index(1): shape %v first %v", row.Shape, row.Data[0])
	}
	row.Data[0] = -1
	if x.Data[12] != -1 {
		t.Fatal("Index does not share storage")
	}
	s := x.Slice(0, 1)
	if !SameShape(s.Shape, []int{1, 3, 4}) || len(s.Data) != 12 {
		t.Fatalf("Slice: %v", s.Shape)
	}
	// A view's capacity ends at the view, so append cannot clobber the parent.
	_ = append(s.Data, 99)
	if x.Data[12] != -1 {
		t.Fatal("append through a view overwrote the parent")
	}
	r := x.Reshape(-1, 4)
	if !SameShape(r.Shape, []int{6, 4}) || r.Rows() != 6 || r.Cols() != 4 {
		t.Fatalf("Reshape(-1, 4): %v", r.Shape)
	}
	c := x.Clone()
	c.Data[0] = 42
	if x.Data[0] == 42 {
		t.Fatal("Clone shares storage")
	}
}

func TestShapeMisusePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"From size":      func() { From(make([]float32, 5), 2, 3) },
		"Index range":    func() { New(2, 2).Index(2) },
		"Slice range":    func() { New(2, 2).Slice(1, 3) },
		"Reshape size":   func() { New(2, 3).Reshape(4, 2) },
		"Reshape two -1": func() { New(2, 3).Reshape(-1, -1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

// Every one of the 65536 half-precision bit patterns must widen and round
// back to itself (NaNs to a NaN).
func TestF16RoundTripAllPatterns(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		back := F32ToF16(f)
		if f != f {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestF16Values(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, // rounds up to Inf
		{float32(math.Ldexp(1, -24)), 0x0001}, // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000}, // halfway to 0: ties to even
		{float32(math.Ldexp(3, -26)), 0x0001}, // 0.75 ulp rounds up
		{1 + 1.0/2048, 0x3c00},                // tie, even mantissa stays
		{1 + 3.0/2048, 0x3c02},                // tie, odd mantissa rounds up
	}
	for _, tc := range tests {
		if got := F32ToF16(tc.f); got != tc.want {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81}, // above half rounds up
	}
	for _, tc := range tests {
		if got := F32ToBF16(tc.f); got != tc.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(tc.f), got, tc.want)
		}
	}
	if v := BF16ToF32(F32ToBF16(float32(math.NaN()))); v == v {
		t.Error("NaN did not survive BF16")
	}
	for h := 0; h < 1<<16; h++ {
		f := BF16ToF32(uint16(h))
		if f == f && F32ToBF16(f) != uint16(h) {
			t.Fatalf("bf16 %#04x does not round-trip", h)
		}
	}
}

func BenchmarkF16ToF32(b *testing.B) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		for i, h := range src {
			dst[i] = F16ToF32(h)
		}
	}
}
