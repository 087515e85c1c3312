package nn

import "github.com/golora/golora/kernels"

// The GELU and SwiGLU passes are kernels.Gelu/GeluGrad/SwiGLU/SwiGLUGrad
// (one vector pass each, exp inlined) over blocks of the slice spread
// across the threads. SiLU and GeGLU work in chunks: a scalar loop writes
// the exponent (or the GELU) of each element into a stack buffer, a kernel
// finishes the chunk, and a second scalar loop combines.

// actChunk is the stack buffer length of the chunked activations.
const actChunk = 512

// actGrain is the smallest slice worth a goroutine.
const actGrain = 1 << 15

// GeluForward computes GPT-2's gelu_new (tanh approximation),
// out = 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x³))), for every element.
// It uses the identity 0.5(1+tanh(u)) = 1/(1+e^(-2u)), which stays
// accurate in both tails. out may alias inp.
func GeluForward(out, inp []float32) {
	checkLen("GeluForward: out", out, len(inp))
	kernels.For(len(inp), actGrain, func(lo, hi int) {
		kernels.Gelu(out[lo:hi], inp[lo:hi], nil)
	})
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
		for r := lo; r < hi; r++ {
			kernels.Gelu(out[r*C:(r+1)*C], f[r*C:(r+1)*C], bias)
		}
	})
}

// GeluBackward accumulates dinp += gelu'(inp) * dout.
func GeluBackward(dinp, inp, dout []float32) { geluBackward(dinp, inp, dout, true) }

// GeluBackwardSet is GeluBackward setting dinp = gelu'(inp) * dout: a
// caller whose dinp holds nothing yet skips clearing it. dinp may alias
// dout.
func GeluBackwardSet(dinp, inp, dout []float32) { geluBackward(dinp, inp, dout, false) }

func geluBackward(dinp, inp, dout []float32, acc bool) {
	checkLen("GeluBackward: dinp", dinp, len(inp))
	checkLen("GeluBackward: dout", dout, len(inp))
	kernels.For(len(inp), actGrain, func(lo, hi int) {
		kernels.GeluGrad(dinp[lo:hi], inp[lo:hi], dout[lo:hi], acc)
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
		kernels.SwiGLU(out[lo:hi], gate[lo:hi], up[lo:hi])
	})
}

// SwiGLUBackward accumulates dgate and dup (nil: skip) for SwiGLUForward.
func SwiGLUBackward(dgate, dup, gate, up, dout []float32) {
	swigluBackward(dgate, dup, gate, up, dout, true)
}

// SwiGLUBackwardSet is SwiGLUBackward setting dgate and dup instead of
// adding to them: a caller whose buffers hold nothing yet skips clearing
// them.
func SwiGLUBackwardSet(dgate, dup, gate, up, dout []float32) {
	swigluBackward(dgate, dup, gate, up, dout, false)
}

func swigluBackward(dgate, dup, gate, up, dout []float32, acc bool) {
	n := len(gate)
	if !checkGLUBackward("SwiGLUBackward", dgate, dup, up, dout, n) {
		return
	}
	part := func(d []float32, lo, hi int) []float32 {
		if d == nil {
			return nil
		}
		return d[lo:hi]
	}
	kernels.For(n, actGrain, func(lo, hi int) {
		kernels.SwiGLUGrad(part(dgate, lo, hi), part(dup, lo, hi), gate[lo:hi], up[lo:hi], dout[lo:hi], acc)
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
			b := e[:len(g)]
			kernels.Gelu(b, g, nil)
			kernels.Mul(out[c:c+len(g)], b, up[c:c+len(g)])
		}
	})
}

// GeGLUBackward accumulates dgate and dup (nil: skip) for GeGLUForward:
// dup += gelu(gate)·dout, dgate += gelu'(gate)·(up·dout).
func GeGLUBackward(dgate, dup, gate, up, dout []float32) {
	geGLUBackward(dgate, dup, gate, up, dout, true)
}

// GeGLUBackwardSet is GeGLUBackward setting dgate and dup instead of
// adding to them.
func GeGLUBackwardSet(dgate, dup, gate, up, dout []float32) {
	geGLUBackward(dgate, dup, gate, up, dout, false)
}

func geGLUBackward(dgate, dup, gate, up, dout []float32, acc bool) {
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
			if dup != nil {
				kernels.Gelu(b, g, nil)
				d := dup[c : c+len(g)]
				if acc {
					for i, v := range b {
						d[i] += v * dy[i]
					}
				} else {
					kernels.Mul(d, b, dy)
				}
			}
			if dgate != nil {
				kernels.Mul(b, u, dy)
				kernels.GeluGrad(dgate[c:c+len(g)], g, b, acc)
			}
		}
	})
}
