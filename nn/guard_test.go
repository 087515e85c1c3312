package nn

import (
	"math"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

// Output buffers get a tail of sentinel values past the length the shape
// needs; every op must leave it alone (gonum's guard bands).

const guardLen = 17

var sentinel = float32(math.Inf(-1))

func guarded(n int) []float32 {
	x := make([]float32, n+guardLen)
	for i := n; i < len(x); i++ {
		x[i] = sentinel
	}
	return x
}

func checkGuard(t *testing.T, name string, x []float32, n int) {
	t.Helper()
	for i := n; i < len(x); i++ {
		if x[i] != sentinel {
			t.Errorf("%s: element %d past the end (length %d) written: %g", name, i, n, x[i])
			return
		}
	}
}

func TestNoStrayWrites(t *testing.T) {
	r := tu.NewRand(4)
	const N, C = 3, 37
	x, w, b := tu.RandN(r, N*C, 1), tu.RandN(r, C, 1), tu.RandN(r, C, 1)
	dy := tu.RandN(r, N*C, 1)
	t.Run("norms", func(t *testing.T) {
		out, mean, rstd := guarded(N*C), guarded(N), guarded(N)
		LayerNormForward(out, mean, rstd, x, w, b, N, C, 1e-5)
		dx, dw, db := guarded(N*C), guarded(C), guarded(C)
		LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, N, C)
		for name, p := range map[string]struct {
			x []float32
			n int
		}{"out": {out, N * C}, "mean": {mean, N}, "rstd": {rstd, N}, "dx": {dx, N * C}, "dw": {dw, C}, "db": {db, C}} {
			checkGuard(t, "LayerNorm "+name, p.x, p.n)
		}
		out, rstd, dx, dw = guarded(N*C), guarded(N), guarded(N*C), guarded(C)
		RMSNormForward(out, rstd, x, w, N, C, 1e-5)
		RMSNormBackward(dx, dw, dy, x, w, rstd, N, C)
		checkGuard(t, "RMSNorm out", out, N*C)
		checkGuard(t, "RMSNorm rstd", rstd, N)
		checkGuard(t, "RMSNorm dx", dx, N*C)
		checkGuard(t, "RMSNorm dw", dw, C)
	})
	t.Run("softmax", func(t *testing.T) {
		out, dx := guarded(N*C), guarded(N*C)
		SoftmaxForward(out, x, N, C)
		SoftmaxBackward(dx, dy, out[:N*C], N, C)
		checkGuard(t, "out", out, N*C)
		checkGuard(t, "dx", dx, N*C)
	})
	t.Run("rope", func(t *testing.T) {
		y := guarded(N * 2 * 16)
		copy(y, tu.RandN(r, N*2*16, 1))
		rp := NewRoPE(16, 4, 1e4, true)
		rp.Forward(y, N, 2, 0)
		rp.Backward(y, N, 2, 0)
		checkGuard(t, "x", y, N*2*16)
	})
	t.Run("cross-entropy", func(t *testing.T) {
		dl := guarded(N * C)
		CrossEntropy(dl, x, []int{1, -100, 5}, N, C, -100)
		checkGuard(t, "dlogits", dl, N*C)
	})
	t.Run("embedding", func(t *testing.T) {
		out, dt := guarded(2*C), guarded(N*C)
		EmbeddingForward(out, []int{2, 0}, x, C)
		EmbeddingBackward(dt[:N*C], []int{2, 0}, dy[:2*C], C)
		checkGuard(t, "out", out, 2*C)
		checkGuard(t, "dtable", dt, N*C)
	})
	const T, Tk, NH, NKV, D = 70, 75, 4, 2, 8
	q, k, v := tu.RandN(r, T*NH*D, 1), tu.RandN(r, Tk*NKV*D, 1), tu.RandN(r, Tk*NKV*D, 1)
	for _, impl := range attnFwdImpls {
		t.Run("attention/"+impl.name, func(t *testing.T) {
			out, lse := guarded(T*NH*D), guarded(NH*T)
			impl.fwd(out, lse, q, k, v, T, Tk, NH, NKV, D, &AttnOptions{Scale: 0.3})
			dq, dk, dv := guarded(T*NH*D), guarded(Tk*NKV*D), guarded(Tk*NKV*D)
			AttentionBackward(dq, dk, dv, out[:T*NH*D], out[:T*NH*D], lse[:NH*T], q, k, v, T, Tk, NH, NKV, D, 0.3)
			checkGuard(t, "out", out, T*NH*D)
			checkGuard(t, "lse", lse, NH*T)
			checkGuard(t, "dq", dq, T*NH*D)
			checkGuard(t, "dk", dk, Tk*NKV*D)
			checkGuard(t, "dv", dv, Tk*NKV*D)
		})
	}
}
