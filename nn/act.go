package nn

import "github.com/golora/golora/kernels"

// The activations work in chunks: a scalar loop writes the exponent of each
// element into a stack buffer, kernels.ExpSub exponentiates the chunk with
// vector instructions, and a second scalar loop finishes. Exponentiating
// one element at a time cost ~30 ns per element (math.Exp's float64 round
// trip), more than the rest of an MLP's element work together.

// actChunk is the stack buffer length of the chunked activations.
const actChunk = 512

// actGrain is the smallest slice worth a goroutine.
const actGrain = 1 << 15

// geluK is sqrt(2/pi); gelu_new's tanh argument is geluK*(x + 0.044715x³).
const geluK = 0.7978845608028654

// GeluForward computes GPT-2's gelu_new (tanh approximation),
// out = 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x³))), for every element.
// It uses the identity 0.5(1+tanh(u)) = 1/(1+e^(-2u)), which stays
// accurate in both tails. out may alias inp.
func GeluForward(out, inp []float32) {
	checkLen("GeluForward: out", out, len(inp))
	kernels.For(len(inp), actGrain, func(lo, hi int) {
		var e [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			x := inp[c:min(c+actChunk, hi)]
			geluChunk(out[c:c+len(x)], x, &e)
		}
	})
}

// geluChunk sets o = gelu(x) for len(x) <= actChunk elements, with e as
// scratch.
func geluChunk(o, x []float32, e *[actChunk]float32) {
	b, o := e[:len(x)], o[:len(x)]
	for i, v := range x {
		b[i] = -2 * geluK * (v + 0.044715*v*v*v)
	}
	kernels.ExpSub(b, b, 0)
	for i, v := range x {
		o[i] = v / (1 + b[i])
	}
}

// BiasGeluForward is AddBias followed by GeluForward in one pass: it adds
// bias (C) to each of the N rows of f (N, C) in place, the pre-activation
// GeluBackward needs, and writes gelu(f) to out. GPT-2's MLP reads and
// writes its widest activation once instead of twice.
func BiasGeluForward(out, f, bias []float32, N int) {
	C := len(bias)
	checkLen("BiasGeluForward: f", f, N*C)
	checkLen("BiasGeluForward: out", out, N*C)
	kernels.For(N, max(1, actGrain/max(C, 1)), func(lo, hi int) {
		var e [actChunk]float32
		for r := lo; r < hi; r++ {
			for c := 0; c < C; c += actChunk {
				x := f[r*C+c : r*C+min(c+actChunk, C)]
				kernels.Add(x, bias[c:c+len(x)])
				geluChunk(out[r*C+c:], x, &e)
			}
		}
	})
}

// GeluBackward accumulates dinp += gelu'(inp) * dout.
func GeluBackward(dinp, inp, dout []float32) {
	checkLen("GeluBackward: dinp", dinp, len(inp))
	checkLen("GeluBackward: dout", dout, len(inp))
	kernels.For(len(inp), actGrain, func(lo, hi int) {
		var e [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			x := inp[c:min(c+actChunk, hi)]
			dx, dy := dinp[c:c+len(x)], dout[c:c+len(x)]
			b := e[:len(x)]
			for i, v := range x {
				b[i] = -2 * geluK * (v + 0.044715*v*v*v)
			}
			kernels.ExpSub(b, b, 0)
			for i, v := range x {
				// gelu = x·s with s = sigmoid(2u): d/dx = s + x·s(1-s)·2u'
				s := 1 / (1 + b[i])
				du := 2 * geluK * (1 + 3*0.044715*v*v)
				dx[i] += (s + v*s*(1-s)*du) * dy[i]
			}
		}
	})
}

// sigmoidChunk sets b[i] = sigmoid(x[i]) for len(x) <= actChunk elements.
func sigmoidChunk(b, x []float32) {
	b = b[:len(x)]
	for i, v := range x {
		b[i] = -v
	}
	kernels.ExpSub(b, b, 0)
	for i := range b {
		b[i] = 1 / (1 + b[i])
	}
}

// SiLUForward computes out = x*sigmoid(x) (SiLU, Swish-1). out may alias inp.
func SiLUForward(out, inp []float32) {
	checkLen("SiLUForward: out", out, len(inp))
	kernels.For(len(inp), actGrain, func(lo, hi int) {
		var s [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			x := inp[c:min(c+actChunk, hi)]
			sigmoidChunk(s[:], x)
			kernels.Mul(out[c:c+len(x)], x, s[:len(x)])
		}
	})
}

// SiLUBackward accumulates dinp += silu'(inp) * dout.
func SiLUBackward(dinp, inp, dout []float32) {
	checkLen("SiLUBackward: dinp", dinp, len(inp))
	checkLen("SiLUBackward: dout", dout, len(inp))
	kernels.For(len(inp), actGrain, func(lo, hi int) {
		var s [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			x := inp[c:min(c+actChunk, hi)]
			dx, dy := dinp[c:c+len(x)], dout[c:c+len(x)]
			sigmoidChunk(s[:], x)
			sg := s[:len(x)]
			for i, v := range x {
				si := sg[i]
				dx[i] += si * (1 + v*(1-si)) * dy[i]
			}
		}
	})
}

// SwiGLUForward computes Llama's MLP gate, out = silu(gate) * up,
// elementwise over len(gate). out may alias gate or up.
func SwiGLUForward(out, gate, up []float32) {
	n := len(gate)
	checkLen("SwiGLUForward: up", up, n)
	checkLen("SwiGLUForward: out", out, n)
	kernels.For(n, actGrain, func(lo, hi int) {
		var s [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			g := gate[c:min(c+actChunk, hi)]
			u, o := up[c:c+len(g)], out[c:c+len(g)]
			sigmoidChunk(s[:], g)
			sg := s[:len(g)]
			for i, v := range g {
				o[i] = v * sg[i] * u[i]
			}
		}
	})
}

// SwiGLUBackward accumulates dgate and dup (nil: skip) for SwiGLUForward.
func SwiGLUBackward(dgate, dup, gate, up, dout []float32) {
	n := len(gate)
	if !checkGLUBackward("SwiGLUBackward", dgate, dup, up, dout, n) {
		return
	}
	kernels.For(n, actGrain, func(lo, hi int) {
		var s [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			g := gate[c:min(c+actChunk, hi)]
			u, dy := up[c:c+len(g)], dout[c:c+len(g)]
			sigmoidChunk(s[:], g)
			sg := s[:len(g)]
			if dup != nil {
				du := dup[c : c+len(g)]
				for i, v := range g {
					du[i] += v * sg[i] * dy[i]
				}
			}
			if dgate != nil {
				dg := dgate[c : c+len(g)]
				for i, v := range g {
					si := sg[i]
					dg[i] += si * (1 + v*(1-si)) * u[i] * dy[i]
				}
			}
		}
	})
}

// checkGLUBackward checks a gated MLP backward's slices against n and
// reports whether there is a gradient to accumulate.
func checkGLUBackward(name string, dgate, dup, up, dout []float32, n int) bool {
	checkLen(name+": up", up, n)
	checkLen(name+": dout", dout, n)
	if dgate != nil {
		checkLen(name+": dgate", dgate, n)
	}
	if dup != nil {
		checkLen(name+": dup", dup, n)
	}
	return dgate != nil || dup != nil
}

// GeGLUForward computes Gemma's MLP gate, out = gelu_tanh(gate) * up,
// elementwise over len(gate) (GeluForward's approximation). out may alias
// gate or up.
func GeGLUForward(out, gate, up []float32) {
	n := len(gate)
	checkLen("GeGLUForward: up", up, n)
	checkLen("GeGLUForward: out", out, n)
	kernels.For(n, actGrain, func(lo, hi int) {
		var e [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			g := gate[c:min(c+actChunk, hi)]
			u, o := up[c:c+len(g)], out[c:c+len(g)]
			b := e[:len(g)]
			for i, v := range g {
				b[i] = -2 * geluK * (v + 0.044715*v*v*v)
			}
			kernels.ExpSub(b, b, 0)
			for i, v := range g {
				o[i] = v / (1 + b[i]) * u[i]
			}
		}
	})
}

// GeGLUBackward accumulates dgate and dup (nil: skip) for GeGLUForward.
func GeGLUBackward(dgate, dup, gate, up, dout []float32) {
	n := len(gate)
	if !checkGLUBackward("GeGLUBackward", dgate, dup, up, dout, n) {
		return
	}
	kernels.For(n, actGrain, func(lo, hi int) {
		var e [actChunk]float32
		for c := lo; c < hi; c += actChunk {
			g := gate[c:min(c+actChunk, hi)]
			u, dy := up[c:c+len(g)], dout[c:c+len(g)]
			b := e[:len(g)]
			for i, v := range g {
				b[i] = -2 * geluK * (v + 0.044715*v*v*v)
			}
			kernels.ExpSub(b, b, 0)
			for i, v := range g {
				s := 1 / (1 + b[i])
				if dup != nil {
					dup[c+i] += v * s * dy[i]
				}
				if dgate != nil {
					du := 2 * geluK * (1 + 3*0.044715*v*v)
					dgate[c+i] += (s + v*s*(1-s)*du) * u[i] * dy[i]
				}
			}
		}
	})
}
