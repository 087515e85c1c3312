package kernels

import "math"

// Activation kernels of a transformer's MLP: GPT-2's tanh GELU and Llama's
// SwiGLU, forward and backward, each one pass over its slices with the
// exponential inlined (exp32's steps). Every element's result depends only
// on its own inputs, never on where it falls in the slice: a decode row
// gets the same bits alone and inside a batch. The assembly versions
// (act_amd64.s) take multiples of 8 and pass a tail through the same
// vector code in a padded buffer.
//
// The formulas, with s = 1/(1+e):
//
//	gelu(x)  = x·s,            e = exp(-2k·x·(1 + 0.044715x²)), k = √(2/π)
//	gelu'(x) = s·(1 + x·(1-s)·2k·(1 + 3·0.044715x²))
//	swiglu(g, u) = g·s·u,      e = exp(-g)
//	∂u = g·s·dy,  ∂g = s·(1 + g·(1-s))·u·dy
//
// 0.5(1+tanh(v)) = 1/(1+e^(-2v)) keeps gelu accurate in both tails, where
// tanh itself would round to ±1.

// The GELU constants: t = x·(geluA + geluB·x²) is the exponent, and
// 2u' = geluC + geluD·x² the derivative of the tanh argument, doubled.
const (
	geluK = 0.7978845608028654 // sqrt(2/pi)
	geluA = -2 * geluK
	geluB = -2 * geluK * 0.044715
	geluC = 2 * geluK
	geluD = 2 * geluK * 3 * 0.044715
)

// actExpHi is the activations' upper clamp of the exponent: above expHi
// their exp is +Inf (see expAct), and 89 is where the assembly's 2^n
// reaches +Inf's bit pattern without wrapping. actXMax bounds |x| in
// gelu', which is exactly 0 or 1 beyond it: x·(1-s)·2u' would otherwise
// be 0·Inf for |x| > 1.8e19.
const (
	actExpHi = 89
	actXMax  = 1e4
)

// expAct is exp32 with +Inf above expHi instead of saturating: a sigmoid
// 1/(1+e) is then 0 where the true value underflows, rather than 4e-39
// which x·s scales back up for a large |x|.
func expAct(t float32) float32 {
	if t > expHi {
		return float32(math.Inf(1))
	}
	return exp32(t)
}

// Gelu sets dst[i] = gelu_tanh(x[i]) (GPT-2's gelu_new). With a bias (of
// len(x)), it first adds it to x in place, keeping the pre-activation a
// backward needs: bias and GELU in one pass. dst may alias x.
func Gelu(dst, x, bias []float32) {
	if len(dst) != len(x) || bias != nil && len(bias) != len(x) {
		panic(badLen)
	}
	if len(x) > 0 {
		gelu(dst, x, bias)
	}
}

// GeluGrad sets dx[i] = gelu'(x[i])·dy[i], or adds it to dx when acc. dx
// may alias dy.
func GeluGrad(dx, x, dy []float32, acc bool) {
	if len(dx) != len(x) || len(dy) != len(x) {
		panic(badLen)
	}
	if len(x) > 0 {
		geluGrad(dx, x, dy, acc)
	}
}

// SwiGLU sets dst[i] = silu(g[i])·u[i]. dst may alias g or u.
func SwiGLU(dst, g, u []float32) {
	if len(dst) != len(g) || len(u) != len(g) {
		panic(badLen)
	}
	if len(g) > 0 {
		swiglu(dst, g, u)
	}
}

// SwiGLUGrad sets (or, when acc, adds to) dg and du, the gradients of
// SwiGLU's gate and up inputs from dy; a nil dg or du is skipped.
func SwiGLUGrad(dg, du, g, u, dy []float32, acc bool) {
	n := len(g)
	if len(u) != n || len(dy) != n || dg != nil && len(dg) != n || du != nil && len(du) != n {
		panic(badLen)
	}
	if n > 0 && (dg != nil || du != nil) {
		swigluGrad(dg, du, g, u, dy, acc)
	}
}

func geluGeneric(dst, x, bias []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		if bias != nil {
			v += bias[i]
			x[i] = v
		}
		e := expAct(v * (geluA + geluB*(v*v)))
		dst[i] = v / (1 + e)
	}
}

func geluGradGeneric(dx, x, dy []float32, acc bool) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		v = max(min(v, actXMax), -actXMax) // NaN stays NaN
		x2 := v * v
		s := 1 / (1 + expAct(v*(geluA+geluB*x2)))
		g := s + s*(v*(1-s)*(geluC+geluD*x2))
		if acc {
			dx[i] += g * dy[i]
		} else {
			dx[i] = g * dy[i]
		}
	}
}

func swigluGeneric(dst, g, u []float32) {
	dst, u = dst[:len(g)], u[:len(g)]
	for i, v := range g {
		dst[i] = v / (1 + expAct(-v)) * u[i]
	}
}

func swigluGradGeneric(dg, du, g, u, dy []float32, acc bool) {
	u, dy = u[:len(g)], dy[:len(g)]
	for i, v := range g {
		s := 1 / (1 + expAct(-v))
		if du != nil {
			d := v * s * dy[i]
			if acc {
				d += du[i]
			}
			du[i] = d
		}
		if dg != nil {
			d := s * (1 + v*(1-s)) * u[i] * dy[i]
			if acc {
				d += dg[i]
			}
			dg[i] = d
		}
	}
}
