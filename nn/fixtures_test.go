package nn

import (
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

// Parity with the independent PyTorch float64 references in
// ../shared/fixtures/ops (see its README for the conventions).

// bhtd2thd converts [B=1, H, T, D] (the fixtures' layout) to [T, H, D].
func bhtd2thd(x []float64, H, T, D int) []float64 {
	y := make([]float64, len(x))
	for h := 0; h < H; h++ {
		for t := 0; t < T; t++ {
			copy(y[(t*H+h)*D:(t*H+h+1)*D], x[(h*T+t)*D:(h*T+t+1)*D])
		}
	}
	return y
}

func TestOpsFixtures(t *testing.T) {
	m := tu.Fixture(t, "ops", "ops.safetensors")
	get := func(name string) *tu.Array { return tu.Get(t, m, name) }

	t.Run("act", func(t *testing.T) {
		x := get("act.x").F32()
		out := make([]float32, len(x))
		GeluForward(out, x)
		tu.AllClose(t, "gelu_new", out, get("act.gelu_new").F, 1e-5, 1e-7)
		// The fixture separates the tanh form from erf: make sure the
		// comparison above would have caught the wrong one.
		if d := tu.Compare(out, get("act.gelu_erf").F, 1e-5, 1e-7); d.Bad == 0 {
			t.Error("gelu_new output also matches gelu_erf: fixture comparison is not discriminating")
		}
		SiLUForward(out, x)
		tu.AllClose(t, "silu", out, get("act.silu").F, 1e-5, 1e-7)
	})

	t.Run("layer_norm", func(t *testing.T) {
		x := get("layer_norm.x")
		N, C := x.Shape[0], x.Shape[1]
		out := make([]float32, N*C)
		LayerNormForward(out, nil, nil, x.F32(), get("layer_norm.weight").F32(), get("layer_norm.bias").F32(), N, C, 1e-5)
		tu.AllClose(t, "out", out, get("layer_norm.out").F, 1e-5, 1e-6)
	})

	t.Run("rms_norm", func(t *testing.T) {
		x := get("rms_norm.x")
		N, C := x.Shape[0], x.Shape[1]
		out := make([]float32, N*C)
		RMSNormForward(out, nil, x.F32(), get("rms_norm.weight").F32(), N, C, 1e-5)
		tu.AllClose(t, "out", out, get("rms_norm.out").F, 1e-5, 1e-6)
	})

	t.Run("rope", func(t *testing.T) {
		x := get("rope.x")
		H, T, D := x.Shape[1], x.Shape[2], x.Shape[3]
		for _, tc := range []struct {
			name        string
			interleaved bool
		}{{"rope.out", false}, {"rope.out_interleaved", true}} {
			r := NewRoPE(D, T, 10000, tc.interleaved)
			y := tu.To32(bhtd2thd(x.F, H, T, D))
			r.Forward(y, T, H, 0)
			tu.AllClose(t, tc.name, y, bhtd2thd(get(tc.name).F, H, T, D), 1e-5, 1e-6)
		}
		// The tables: HF's cos = cos(cat(angle, angle)), [position, D].
		r := NewRoPE(D, T, 10000, false)
		half := D / 2
		gotCos, gotSin := make([]float32, T*D), make([]float32, T*D)
		for p := 0; p < T; p++ {
			for j := 0; j < D; j++ {
				gotCos[p*D+j], gotSin[p*D+j] = r.cos[p*half+j%half], r.sin[p*half+j%half]
			}
		}
		// float32 rounding of the float64 table: |error| <= 2^-25.
		tu.AllClose(t, "rope.cos", gotCos, get("rope.cos").F, 0, 3e-8)
		tu.AllClose(t, "rope.sin", gotSin, get("rope.sin").F, 0, 3e-8)
	})

	t.Run("attention", func(t *testing.T) {
		q, k := get("attention.q"), get("attention.k")
		NH, T, D := q.Shape[1], q.Shape[2], q.Shape[3]
		NKV := k.Shape[1]
		for _, impl := range attnFwdImpls {
			out := make([]float32, T*NH*D)
			impl.fwd(out, make([]float32, NH*T),
				tu.To32(bhtd2thd(q.F, NH, T, D)),
				tu.To32(bhtd2thd(k.F, NKV, T, D)),
				tu.To32(bhtd2thd(get("attention.v").F, NKV, T, D)),
				T, T, NH, NKV, D, &AttnOptions{Scale: 0.25})
			tu.AllClose(t, impl.name, out, bhtd2thd(get("attention.out").F, NH, T, D), 1e-5, 1e-6)
		}
	})

	t.Run("cross_entropy", func(t *testing.T) {
		logits := get("cross_entropy.logits")
		N, V := logits.Shape[0], logits.Shape[1]
		dl := make([]float32, N*V)
		loss, count := CrossEntropy(dl, logits.F32(), get("cross_entropy.targets").Ints(), N, V, -100)
		if count != N {
			t.Errorf("count %d, want %d", count, N)
		}
		tu.AllClose(t, "loss", []float64{loss}, get("cross_entropy.loss").F, 1e-6, 0)
		tu.AllClose(t, "grad_logits", dl, get("cross_entropy.grad_logits").F, 1e-5, 1e-7)
	})
}
