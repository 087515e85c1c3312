package nn

import (
	"fmt"
	"math"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

func TestCrossEntropy(t *testing.T) {
	const ignore = -100
	tests := []struct {
		N, V     int
		ignoreAt []int
	}{
		{1, 1, nil},
		{3, 3, []int{1}},
		{4, 17, []int{0, 3}},
		{5, 63, nil},
		{2, 129, []int{0}},
		{3, 1000, nil},
		{2, 5003, []int{1}},
		{2, 7, []int{0, 1}}, // everything ignored
	}
	for _, tc := range tests {
		N, V := tc.N, tc.V
		t.Run(fmt.Sprintf("N%dV%d/ignored%d", N, V, len(tc.ignoreAt)), func(t *testing.T) {
			r := tu.NewRand(uint64(N*V + len(tc.ignoreAt)))
			logits := tu.RandN(r, N*V, 3)
			targets := make([]int, N)
			for i := range targets {
				targets[i] = r.IntN(V)
			}
			for _, i := range tc.ignoreAt {
				targets[i] = ignore
			}
			l64 := tu.To64(logits)
			wantLoss := crossEntropy64(l64, targets, N, V, ignore)

			loss, count := CrossEntropy(nil, logits, targets, N, V, ignore)
			if count != N-len(tc.ignoreAt) {
				t.Errorf("count %d, want %d", count, N-len(tc.ignoreAt))
			}
			tu.AllClose(t, "loss (no grad)", []float64{loss}, []float64{wantLoss}, 1e-6, 1e-7)

			dl := tu.RandN(r, N*V, 1) // garbage: CrossEntropy overwrites
			loss2, _ := CrossEntropy(dl, logits, targets, N, V, ignore)
			tu.AllClose(t, "loss", []float64{loss2}, []float64{wantLoss}, 1e-6, 1e-7)
			idx := tu.Sample(r, N*V, 200)
			want := tu.NumGradAt(func(p []float64) float64 { return crossEntropy64(p, targets, N, V, ignore) }, l64, fdStep, idx)
			sub := make([]float32, len(idx))
			for k, i := range idx {
				sub[k] = dl[i]
			}
			tu.GradClose(t, "dlogits", sub, want, gradRtol, 1e-7)
			for _, i := range tc.ignoreAt {
				for j, g := range dl[i*V : (i+1)*V] {
					if g != 0 {
						t.Fatalf("ignored row %d has gradient %g at %d", i, g, j)
					}
				}
			}

			// dlogits aliasing logits: the buffer becomes the gradient.
			alias := clone(logits)
			loss3, _ := CrossEntropy(alias, alias, targets, N, V, ignore)
			if loss3 != loss2 {
				t.Errorf("aliased loss %v, separate %v", loss3, loss2)
			}
			tu.AllClose(t, "aliased dlogits", alias, tu.To64(dl), 0, 0)
		})
	}
}

func TestCrossEntropyExtremeLogits(t *testing.T) {
	logits := []float32{1000, -1000, 0, 88, 89, 90}
	loss, _ := CrossEntropy(nil, logits, []int{1, 0}, 2, 3, -1)
	want := crossEntropy64(tu.To64(logits), []int{1, 0}, 2, 3, -1)
	if math.Abs(loss-want) > 1e-4*want {
		t.Errorf("loss %v, want %v", loss, want)
	}
}

func TestCrossEntropyBadTarget(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("target == V did not panic")
		}
	}()
	CrossEntropy(nil, make([]float32, 6), []int{0, 3}, 2, 3, -100)
}

func TestEmbedding(t *testing.T) {
	for _, tc := range []struct{ V, C int }{{1, 1}, {5, 3}, {97, 17}, {50, 129}} {
		t.Run(fmt.Sprintf("V%dC%d", tc.V, tc.C), func(t *testing.T) {
			r := tu.NewRand(uint64(tc.V + tc.C))
			table := tu.RandN(r, tc.V*tc.C, 1)
			ids := []int{0, tc.V - 1, tc.V / 2, 0, tc.V - 1}
			out := make([]float32, len(ids)*tc.C)
			EmbeddingForward(out, ids, table, tc.C)
			want := make([]float64, len(out))
			for i, id := range ids {
				for j := 0; j < tc.C; j++ {
					want[i*tc.C+j] = float64(table[id*tc.C+j])
				}
			}
			tu.AllClose(t, "gather", out, want, 0, 0)

			dout := tu.RandN(r, len(out), 1)
			g0 := tu.RandN(r, len(table), 1)
			dt := clone(g0)
			EmbeddingBackward(dt, ids, dout, tc.C)
			// The scatter-add is the transpose of the gather: Σ out·dout
			// is linear in table, so its finite difference is exact.
			d64 := tu.To64(dout)
			f := tu.NumGrad(func(p []float64) float64 {
				var s float64
				for i, id := range ids {
					for j := 0; j < tc.C; j++ {
						s += p[id*tc.C+j] * d64[i*tc.C+j]
					}
				}
				return s
			}, tu.To64(table), 1e-3)
			tu.AllClose(t, "scatter-add", diff(dt, g0), f, 1e-6, 1e-6)
		})
	}
}

func TestEmbeddingBadID(t *testing.T) {
	for _, id := range []int{-1, 4} {
		t.Run(fmt.Sprint(id), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("id %d did not panic", id)
				}
			}()
			EmbeddingForward(make([]float32, 2), []int{id}, make([]float32, 8), 2)
		})
	}
}

// CrossEntropyScaled's gradient is gradScale·count times CrossEntropy's,
// with the same loss and count.
func TestCrossEntropyScaled(t *testing.T) {
	const N, V, g = 7, 301, float32(0.3)
	r := tu.NewRand(17)
	logits := tu.RandN(r, N*V, 2)
	targets := []int{3, -100, 0, 300, 150, -100, 42}
	d1, d2 := make([]float32, N*V), make([]float32, N*V)
	l1, c1 := CrossEntropy(d1, logits, targets, N, V, -100)
	l2, c2 := CrossEntropyScaled(d2, logits, targets, N, V, -100, g)
	if l1 != l2 || c1 != c2 {
		t.Fatalf("loss/count %v/%d, scaled %v/%d", l1, c1, l2, c2)
	}
	want := tu.To64(d1)
	for i := range want {
		want[i] *= float64(g) * float64(c1)
	}
	tu.AllClose(t, "scaled gradient", d2, want, 1e-6, 1e-9)
}
