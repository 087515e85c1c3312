package nn

import (
	"fmt"
	"math"
	"testing"

	tu "github.com/golora/golora/internal/testutil"
)

// Benchmarks on GPT-2-small shapes (C 768, 12 heads of 64, V 50257) with
// N = 1024 rows (batch 4 × 256) unless noted. SetBytes counts the bytes of
// activations read, so -bench prints a bandwidth to compare with memory
// speed.

const benchN, benchC = 1024, 768

func BenchmarkLayerNorm(b *testing.B) {
	r := tu.NewRand(1)
	x, w, bias := tu.RandN(r, benchN*benchC, 1), tu.RandN(r, benchC, 1), tu.RandN(r, benchC, 1)
	out, mean, rstd := make([]float32, len(x)), make([]float32, benchN), make([]float32, benchN)
	b.Run("forward", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for b.Loop() {
			LayerNormForward(out, mean, rstd, x, w, bias, benchN, benchC, 1e-5)
		}
	})
	dx, dw, db := make([]float32, len(x)), make([]float32, benchC), make([]float32, benchC)
	b.Run("backward", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			LayerNormBackward(dx, dw, db, out, x, w, mean, rstd, benchN, benchC)
		}
	})
}

func BenchmarkRMSNorm(b *testing.B) {
	r := tu.NewRand(1)
	x, w := tu.RandN(r, benchN*benchC, 1), tu.RandN(r, benchC, 1)
	out, rstd := make([]float32, len(x)), make([]float32, benchN)
	b.Run("forward", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for b.Loop() {
			RMSNormForward(out, rstd, x, w, benchN, benchC, 1e-5)
		}
	})
	dx, dw := make([]float32, len(x)), make([]float32, benchC)
	b.Run("backward", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			RMSNormBackward(dx, dw, out, x, w, rstd, benchN, benchC)
		}
	})
}

func BenchmarkGelu(b *testing.B) {
	x := tu.RandN(tu.NewRand(1), benchN*4*benchC, 1)
	out := make([]float32, len(x))
	b.Run("forward", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for b.Loop() {
			GeluForward(out, x)
		}
	})
	b.Run("backward", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			GeluBackward(out, x, x)
		}
	})
	// llm.c's loop, one math.Tanh per element: the baseline for the ratio.
	const geluK = 0.7978845608028654 // sqrt(2/pi)
	b.Run("forward-naive", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for b.Loop() {
			for i, v := range x {
				out[i] = float32(0.5 * float64(v) * (1 + math.Tanh(geluK*float64(v+0.044715*v*v*v))))
			}
		}
	})
}

func BenchmarkSwiGLU(b *testing.B) {
	r := tu.NewRand(1)
	n := benchN * 4 * benchC
	g, u := tu.RandN(r, n, 1), tu.RandN(r, n, 1)
	out := make([]float32, n)
	b.Run("forward", func(b *testing.B) {
		b.SetBytes(int64(8 * n))
		for b.Loop() {
			SwiGLUForward(out, g, u)
		}
	})
	dg, du := make([]float32, n), make([]float32, n)
	b.Run("backward", func(b *testing.B) {
		b.SetBytes(int64(12 * n))
		for b.Loop() {
			SwiGLUBackward(dg, du, g, u, out)
		}
	})
}

func BenchmarkRoPE(b *testing.B) {
	const T, H, D = 1024, 12, 64
	x := tu.RandN(tu.NewRand(1), T*H*D, 1)
	for _, il := range []bool{false, true} {
		r := NewRoPE(D, T, 10000, il)
		b.Run(fmt.Sprintf("interleaved=%v", il), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				r.Forward(x, T, H, 0)
			}
		})
	}
}

func BenchmarkSoftmax(b *testing.B) {
	const rows, cols = 12 * 256, 256
	x := tu.RandN(tu.NewRand(1), rows*cols, 1)
	out := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		SoftmaxForward(out, x, rows, cols)
	}
}

// BenchmarkAttention compares the fused loop and the tiled GEMMs on a
// GPT-2 prefill (T = Tk = 256) and a decode step (T = 1, Tk = 384), which
// is what attnFusedMaxT is set from; the backward always tiles.
func BenchmarkAttention(b *testing.B) {
	const NH, D = 12, 64
	for _, sh := range []struct {
		name  string
		T, Tk int
	}{{"prefill", 256, 256}, {"decode", 1, 384}, {"chunk4", 4, 384}, {"chunk16", 16, 384}, {"long", 1024, 1024}} {
		r := tu.NewRand(1)
		q, k, v := tu.RandN(r, sh.T*NH*D, 1), tu.RandN(r, sh.Tk*NH*D, 1), tu.RandN(r, sh.Tk*NH*D, 1)
		out, lse := make([]float32, len(q)), make([]float32, NH*sh.T)
		dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
		// causal multiply-adds: q·k and p·v over the visible keys
		flops := 0.0
		for i := 0; i < sh.T; i++ {
			flops += 4 * float64(NH*D*(sh.Tk-sh.T+i+1))
		}
		o := &AttnOptions{Scale: 0.125}
		for _, impl := range attnFwdImpls[1:] {
			b.Run(sh.name+"/forward/"+impl.name, func(b *testing.B) {
				for b.Loop() {
					impl.fwd(out, lse, q, k, v, sh.T, sh.Tk, NH, NH, D, o)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		if sh.name == "decode" {
			continue
		}
		b.Run(sh.name+"/backward", func(b *testing.B) {
			for b.Loop() {
				AttentionBackwardOpt(dq, dk, dv, out, out, lse, q, k, v, sh.T, sh.Tk, NH, NH, D, *o)
			}
			// recomputed scores, dv, dS, dq, dk: 5 products of the 2 above
			b.ReportMetric(2.5*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkCrossEntropy(b *testing.B) {
	const N, V = 32, 50257
	r := tu.NewRand(1)
	logits := tu.RandN(r, N*V, 2)
	targets := make([]int, N)
	for i := range targets {
		targets[i] = r.IntN(V)
	}
	dl := make([]float32, N*V)
	b.Run("loss", func(b *testing.B) {
		b.SetBytes(int64(4 * N * V))
		for b.Loop() {
			CrossEntropy(nil, logits, targets, N, V, -100)
		}
	})
	// One math.Exp per logit, single goroutine: the baseline for the ratio.
	b.Run("loss-naive", func(b *testing.B) {
		b.SetBytes(int64(4 * N * V))
		for b.Loop() {
			var loss float64
			for i := 0; i < N; i++ {
				row := logits[i*V : (i+1)*V]
				m := row[0]
				for _, v := range row {
					m = max(m, v)
				}
				var s float64
				for _, v := range row {
					s += math.Exp(float64(v - m))
				}
				loss += math.Log(s) + float64(m-row[targets[i]])
			}
			_ = loss / N
		}
	})
	b.Run("loss+grad", func(b *testing.B) {
		b.SetBytes(int64(4 * N * V))
		for b.Loop() {
			CrossEntropy(dl, logits, targets, N, V, -100)
		}
	})
}

func BenchmarkAdamW(b *testing.B) {
	const n = 1 << 20
	r := tu.NewRand(1)
	p, g := tu.RandN(r, n, 1), tu.RandN(r, n, 1)
	m, v := make([]float32, n), make([]float32, n)
	o := DefaultAdamW()
	b.SetBytes(4 * 4 * n)
	step := 0
	for b.Loop() {
		step++
		o.Update(p, g, m, v, step, 1e-3, 0.01)
	}
}

func BenchmarkGlobalNorm(b *testing.B) {
	g := tu.RandN(tu.NewRand(1), 1<<20, 1)
	b.SetBytes(4 << 20)
	for b.Loop() {
		GlobalNorm(g)
	}
}
