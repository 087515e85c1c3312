package core

import (
	"math"
	"sync"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// Layer ops not taken from nn: norms with float64 row sums, exact-erf GELU,
// the rotate_half RoPE table used per row position (decode rows have
// ragged positions), and a row-parallel cross-entropy. They follow nn's
// conventions (backward accumulates, nil gradient = skip). N rows, C channels.

// parallelFor runs f over [0, n) split into contiguous chunks, one per
// thread; small n runs inline so tiny decode steps pay no goroutine cost.
func parallelFor(n, minChunk int, f func(lo, hi int)) {
	th := kernels.Threads()
	if th <= 1 || n <= minChunk {
		f(0, n)
		return
	}
	chunks := min(th, (n+minChunk-1)/minChunk)
	var wg sync.WaitGroup
	for c := 0; c < chunks; c++ {
		lo, hi := c*n/chunks, (c+1)*n/chunks
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// rmsNormForward: out = w * x / sqrt(mean(x²) + eps); rstd saved per row.
func rmsNormForward(out, rstd, inp, w []float32, N, C int, eps float32) {
	for i := 0; i < N; i++ {
		x := inp[i*C : (i+1)*C]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		r := float32(1 / math.Sqrt(ss/float64(C)+float64(eps)))
		rstd[i] = r
		o := out[i*C : (i+1)*C]
		for j, v := range x {
			o[j] = v * r * w[j]
		}
	}
}

// rmsNormBackward accumulates dinp and dw (nil: skip).
func rmsNormBackward(dinp, dw, dout, inp, w, rstd []float32, N, C int) {
	for i := 0; i < N; i++ {
		x := inp[i*C : (i+1)*C]
		dy := dout[i*C : (i+1)*C]
		r := rstd[i]
		if dw != nil {
			for j := range x {
				dw[j] += dy[j] * x[j] * r
			}
		}
		if dinp == nil {
			continue
		}
		// dx = r*w*dy - x * r³/C * sum(dy*w*x)
		var dot float64
		for j := range x {
			dot += float64(dy[j]) * float64(w[j]) * float64(x[j])
		}
		k := float32(dot) * r * r * r / float32(C)
		dx := dinp[i*C : (i+1)*C]
		for j := range x {
			dx[j] += r*w[j]*dy[j] - k*x[j]
		}
	}
}

// layerNormForward: out = (x-mean)*rstd*w + b with the biased variance.
func layerNormForward(out, mean, rstd, inp, w, b []float32, N, C int, eps float32) {
	for i := 0; i < N; i++ {
		x := inp[i*C : (i+1)*C]
		var s float64
		for _, v := range x {
			s += float64(v)
		}
		m := s / float64(C)
		var ss float64
		for _, v := range x {
			d := float64(v) - m
			ss += d * d
		}
		r := 1 / math.Sqrt(ss/float64(C)+float64(eps))
		mean[i], rstd[i] = float32(m), float32(r)
		o := out[i*C : (i+1)*C]
		for j, v := range x {
			o[j] = float32((float64(v)-m)*r)*w[j] + b[j]
		}
	}
}

// layerNormBackward accumulates dinp, dw, db (nil: skip), as llm.c does.
func layerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd []float32, N, C int) {
	for i := 0; i < N; i++ {
		x := inp[i*C : (i+1)*C]
		dy := dout[i*C : (i+1)*C]
		m, r := mean[i], rstd[i]
		var dnormMean, dnormNormMean float64
		for j := range x {
			nrm := (x[j] - m) * r
			dn := w[j] * dy[j]
			dnormMean += float64(dn)
			dnormNormMean += float64(dn * nrm)
		}
		dnormMean /= float64(C)
		dnormNormMean /= float64(C)
		var dx []float32
		if dinp != nil {
			dx = dinp[i*C : (i+1)*C]
		}
		for j := range x {
			nrm := (x[j] - m) * r
			if db != nil {
				db[j] += dy[j]
			}
			if dw != nil {
				dw[j] += nrm * dy[j]
			}
			if dx != nil {
				dn := w[j] * dy[j]
				dx[j] += (dn - float32(dnormMean) - nrm*float32(dnormNormMean)) * r
			}
		}
	}
}

const geluScale = 0.7978845608028654 // sqrt(2/pi)

// geluForward is gelu_new / gelu_pytorch_tanh when !erf, exact gelu when erf.
func geluForward(out, inp []float32, erf bool) {
	parallelFor(len(inp), 1<<14, func(lo, hi int) {
		if !erf {
			nn.GeluForward(out[lo:hi], inp[lo:hi])
			return
		}
		for i := lo; i < hi; i++ {
			x := float64(inp[i])
			if erf {
				out[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
			} else {
				out[i] = float32(0.5 * x * (1 + math.Tanh(geluScale*(x+0.044715*x*x*x))))
			}
		}
	})
}

// geluBackward accumulates dinp.
func geluBackward(dinp, inp, dout []float32, erf bool) {
	parallelFor(len(inp), 1<<14, func(lo, hi int) {
		if !erf {
			nn.GeluBackward(dinp[lo:hi], inp[lo:hi], dout[lo:hi])
			return
		}
		for i := lo; i < hi; i++ {
			x := float64(inp[i])
			var g float64
			if erf {
				g = 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
			} else {
				u := geluScale * (x + 0.044715*x*x*x)
				t := math.Tanh(u)
				g = 0.5*(1+t) + 0.5*x*(1-t*t)*geluScale*(1+3*0.044715*x*x)
			}
			dinp[i] += float32(g) * dout[i]
		}
	})
}

// swigluForward: out = silu(gate) * up, split over threads.
func swigluForward(out, gate, up []float32) {
	parallelFor(len(gate), 1<<14, func(lo, hi int) {
		nn.SwiGLUForward(out[lo:hi], gate[lo:hi], up[lo:hi])
	})
}

// swigluBackward accumulates dgate and dup.
func swigluBackward(dgate, dup, gate, up, dout []float32) {
	parallelFor(len(gate), 1<<14, func(lo, hi int) {
		nn.SwiGLUBackward(dgate[lo:hi], dup[lo:hi], gate[lo:hi], up[lo:hi], dout[lo:hi])
	})
}

// rope holds cos/sin tables [pos, D/2] for HF's rotate_half convention:
// within a head, dimensions j and j+D/2 form a rotated pair.
type rope struct {
	D        int
	theta    float64
	cos, sin []float32
}

func newRoPE(D int, theta float64, maxPos int) *rope {
	r := &rope{D: D, theta: theta}
	r.grow(maxPos)
	return r
}

func (r *rope) maxPos() int { return len(r.cos) / (r.D / 2) }

// grow extends the tables so positions beyond max_position_embeddings still
// work (HF computes RoPE on the fly too).
func (r *rope) grow(n int) {
	h := r.D / 2
	old := r.maxPos()
	if n <= old {
		return
	}
	n = max(n, 2*old)
	cos := make([]float32, n*h)
	sin := make([]float32, n*h)
	copy(cos, r.cos)
	copy(sin, r.sin)
	for p := old; p < n; p++ {
		for j := 0; j < h; j++ {
			invFreq := math.Pow(r.theta, -2*float64(j)/float64(r.D))
			a := float64(p) * invFreq
			cos[p*h+j] = float32(math.Cos(a))
			sin[p*h+j] = float32(math.Sin(a))
		}
	}
	r.cos, r.sin = cos, sin
}

// apply rotates x [H, D] (one token's heads, in place) at position pos;
// inverse applies the transpose rotation, which is the backward pass.
func (r *rope) apply(x []float32, H, pos int, inverse bool) {
	h := r.D / 2
	cs := r.cos[pos*h : (pos+1)*h]
	sn := r.sin[pos*h : (pos+1)*h]
	for hd := 0; hd < H; hd++ {
		v := x[hd*r.D : (hd+1)*r.D]
		for j := 0; j < h; j++ {
			a, b := v[j], v[j+h]
			c, s := cs[j], sn[j]
			if inverse {
				s = -s
			}
			v[j] = a*c - b*s
			v[j+h] = b*c + a*s
		}
	}
}

// crossEntropy computes the mean loss over targets != ignore and, when
// dlogits != nil, its gradient (dlogits may alias logits).
func crossEntropy(dlogits, logits []float32, targets []int, N, V, ignore int) (float64, int) {
	count := 0
	for _, t := range targets[:N] {
		if t != ignore {
			count++
		}
	}
	losses := make([]float64, N)
	parallelFor(N, 4, func(lo, hi int) {
		var scratch []float32
		for i := lo; i < hi; i++ {
			row := logits[i*V : (i+1)*V]
			t := targets[i]
			if t == ignore {
				if dlogits != nil {
					clear(dlogits[i*V : (i+1)*V])
				}
				continue
			}
			zt := row[t] // read before dlogits (which may alias) overwrites it
			e := grow(&scratch, V)
			if dlogits != nil {
				e = dlogits[i*V : (i+1)*V]
			}
			mx := kernels.Max(row)
			sum := kernels.ExpSub(e, row, mx)
			losses[i] = float64(mx) + math.Log(float64(sum)) - float64(zt)
			if dlogits != nil {
				inv := 1 / float32(count)
				kernels.Scale(inv/sum, e)
				e[t] -= inv
			}
		}
	})
	var loss float64
	for _, l := range losses {
		loss += l
	}
	if count == 0 {
		return 0, 0
	}
	return loss / float64(count), count
}
