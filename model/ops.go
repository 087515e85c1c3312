package model

import (
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// The layer math comes from package nn (norms, tanh GELU, SwiGLU, RoPE,
// attention, cross-entropy). What stays here is what nn does not offer:
// exact-erf GELU (GPT-2 variants with activation_function "gelu") and the
// helpers that apply nn's ops to the ragged rows of a KV-cache step.

// geluForward is gelu_new / gelu_pytorch_tanh (nn.GeluForward) when !erf,
// exact gelu when erf.
func geluForward(out, inp []float32, erf bool) {
	if !erf {
		nn.GeluForward(out, inp)
		return
	}
	kernels.For(len(inp), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(inp[i])
			out[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
		}
	})
}

// geluBackward sets dinp = gelu'(inp)·dout (the block's backward owns
// dinp, so it need not be cleared first); dinp may alias dout.
func geluBackward(dinp, inp, dout []float32, erf bool) {
	if !erf {
		nn.GeluBackwardSet(dinp, inp, dout)
		return
	}
	kernels.For(len(inp), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(inp[i])
			g := 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
			dinp[i] = float32(g) * dout[i]
		}
	})
}

// span is a run of rows [start, start+n) holding consecutive positions
// pos0, pos0+1, ...: one batch row of a training step, or the new tokens of
// one cache row in a decode step.
type span struct{ start, n, pos0 int }

// ropeSpans rotates the q (N, NH·D, rows ldq apart) and k (N, NKV·D, rows
// ldk apart) rows of each span with rp, split into blocks of rows over the
// threads (nn.RoPE is safe for concurrent use); inverse is the backward
// pass.
func ropeSpans(rp *nn.RoPE, q, k []float32, ldq, ldk, NH, NKV int, spans []span, inverse bool) {
	const block = 32
	type job struct{ start, n, pos0 int }
	var jobs []job
	for _, s := range spans {
		for t := 0; t < s.n; t += block {
			jobs = append(jobs, job{s.start + t, min(block, s.n-t), s.pos0 + t})
		}
	}
	kernels.For(len(jobs), 1, func(lo, hi int) {
		for _, j := range jobs[lo:hi] {
			qs, ks := q[j.start*ldq:], k[j.start*ldk:]
			if inverse {
				rp.BackwardRows(qs, j.n, NH, ldq, j.pos0)
				rp.BackwardRows(ks, j.n, NKV, ldk, j.pos0)
			} else {
				rp.ForwardRows(qs, j.n, NH, ldq, j.pos0)
				rp.ForwardRows(ks, j.n, NKV, ldk, j.pos0)
			}
		}
	})
}

// The passes of a block between its products (residual adds, the copies
// of gradient buffers) run over the threads: serial, each left the
// workers idle for a few hundred microseconds a block at training sizes.

// parGrain is the fewest floats worth another thread. Below 2·parGrain
// the passes run inline, without building a closure (decode's rows).
const parGrain = 1 << 15

// addVec: y += x.
func addVec(y, x []float32) {
	y = y[:len(x)]
	if len(x) < 2*parGrain {
		kernels.Add(y, x)
		return
	}
	kernels.For(len(x), parGrain, func(lo, hi int) { kernels.Add(y[lo:hi], x[lo:hi]) })
}

// copyVec: dst = src.
func copyVec(dst, src []float32) {
	if len(src) < 2*parGrain {
		copy(dst, src)
		return
	}
	dst = dst[:len(src)]
	kernels.For(len(src), parGrain, func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
}

// scaleVec: x *= alpha.
func scaleVec(alpha float32, x []float32) {
	if len(x) >= smallVec {
		kernels.Scale(alpha, x)
		return
	}
	for i := range x {
		x[i] *= alpha
	}
}

// softCap: z = cap·tanh(z/cap), elementwise.
func softCap(z []float32, cp float32) {
	kernels.For(len(z), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			z[i] = cp * float32(math.Tanh(float64(z[i]/cp)))
		}
	})
}
