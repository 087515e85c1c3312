package testutil

import (
	"math"
	"testing"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		got  []float32
		want []float64
		bad  int
		at   int
	}{
		{"equal", []float32{1, 2, 3}, []float64{1, 2, 3}, 0, 0},
		{"one off", []float32{1, 2.5, 3}, []float64{1, 2, 3}, 1, 1},
		{"nan", []float32{1, float32(math.NaN()), 3}, []float64{1, 2, 3}, 1, 1},
		{"inf equal", []float32{float32(math.Inf(1))}, []float64{math.Inf(1)}, 0, 0},
		{"within rtol", []float32{100.00001}, []float64{100}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Compare(tc.got, tc.want, 1e-6, 1e-9)
			if d.Bad != tc.bad || (tc.bad > 0 && d.At != tc.at) {
				t.Errorf("got %v, want %d bad at %d", d, tc.bad, tc.at)
			}
		})
	}
}

func TestNumGrad(t *testing.T) {
	x := []float64{0.3, -1.2, 2}
	f := func(x []float64) float64 { return x[0]*x[0]*x[1] + math.Sin(x[2]) }
	g := NumGrad(f, x, 1e-6)
	want := []float64{2 * x[0] * x[1], x[0] * x[0], math.Cos(x[2])}
	AllClose(t, "grad", g, want, 1e-8, 1e-9)
	if x[0] != 0.3 || x[1] != -1.2 || x[2] != 2 {
		t.Errorf("x not restored: %v", x)
	}
}

func TestRepoRoot(t *testing.T) {
	if _, err := RepoRoot(); err != nil {
		t.Fatal(err)
	}
}

func TestReadOpsFixture(t *testing.T) {
	m := Fixture(t, "ops", "ops.safetensors")
	x := Get(t, m, "act.x")
	if x.Dtype != "F64" || len(x.F) != 161 || x.F[0] != -8 || x.F[160] != 8 {
		t.Errorf("act.x: dtype %s, %d values, ends %v", x.Dtype, len(x.F), x.F[:1])
	}
	tg := Get(t, m, "cross_entropy.targets")
	if tg.Dtype != "I64" || len(tg.Ints()) != 6 {
		t.Errorf("cross_entropy.targets: %s %v", tg.Dtype, tg.Shape)
	}
	if l := Get(t, m, "cross_entropy.loss"); len(l.F) != 1 || len(l.Shape) != 0 {
		t.Errorf("scalar loss: shape %v, %d values", l.Shape, len(l.F))
	}
}

func TestTranspose(t *testing.T) {
	for _, tc := range []struct {
		x, want    []float32
		rows, cols int
	}{
		{[]float32{1, 2, 3, 4, 5, 6}, []float32{1, 4, 2, 5, 3, 6}, 2, 3},
		{[]float32{1, 2, 3}, []float32{1, 2, 3}, 1, 3},
	} {
		got := Transpose(tc.x, tc.rows, tc.cols)
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("Transpose(%v, %d, %d) = %v, want %v", tc.x, tc.rows, tc.cols, got, tc.want)
			}
		}
	}
}

func TestCausalBatch(t *testing.T) {
	dir := Shared(t, "fixtures", "tiny-llama")
	ids, targets, B, T := CausalBatch(t, dir, -100)
	if B*T != len(ids) || len(targets) != len(ids) || B != 2 || T != 16 {
		t.Fatalf("B %d T %d, %d ids, %d targets", B, T, len(ids), len(targets))
	}
	for n := range ids {
		want := -100
		if (n+1)%T != 0 {
			want = ids[n+1]
		}
		if targets[n] != want {
			t.Fatalf("target %d = %d, want %d", n, targets[n], want)
		}
	}
}
