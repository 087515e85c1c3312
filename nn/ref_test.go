package nn

import "math"

// Float64 reference forwards, written the obvious way from the formulas.
// The float32 kernels are compared with them, and the backward kernels with
// their finite differences.

func layerNorm64(x, w, b []float64, N, C int, eps float64) []float64 {
	out := make([]float64, N*C)
	for i := 0; i < N; i++ {
		row := x[i*C : (i+1)*C]
		var m, v float64
		for _, e := range row {
			m += e
		}
		m /= float64(C)
		for _, e := range row {
			v += (e - m) * (e - m)
		}
		v /= float64(C)
		for j, e := range row {
			out[i*C+j] = (e-m)/math.Sqrt(v+eps)*w[j] + b[j]
		}
	}
	return out
}

func rmsNorm64(x, w []float64, N, C int, eps float64) []float64 {
	out := make([]float64, N*C)
	for i := 0; i < N; i++ {
		row := x[i*C : (i+1)*C]
		var ss float64
		for _, e := range row {
			ss += e * e
		}
		r := 1 / math.Sqrt(ss/float64(C)+eps)
		for j, e := range row {
			out[i*C+j] = w[j] * e * r
		}
	}
	return out
}

func gelu64(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

func silu64(x float64) float64 { return x / (1 + math.Exp(-x)) }

func mapf(x []float64, f func(float64) float64) []float64 {
	y := make([]float64, len(x))
	for i, e := range x {
		y[i] = f(e)
	}
	return y
}

func geglu64(gate, up []float64) []float64 {
	y := make([]float64, len(gate))
	for i := range gate {
		y[i] = gelu64(gate[i]) * up[i]
	}
	return y
}

func swiglu64(gate, up []float64) []float64 {
	y := make([]float64, len(gate))
	for i := range gate {
		y[i] = silu64(gate[i]) * up[i]
	}
	return y
}

func softmax64(x []float64, rows, cols int) []float64 {
	y := make([]float64, len(x))
	for i := 0; i < rows; i++ {
		r := x[i*cols : (i+1)*cols]
		m := math.Inf(-1)
		for _, e := range r {
			m = math.Max(m, e)
		}
		var s float64
		for j, e := range r {
			y[i*cols+j] = math.Exp(e - m)
			s += y[i*cols+j]
		}
		for j := range r {
			y[i*cols+j] /= s
		}
	}
	return y
}

// rope64 rotates x [T, H, D] at positions pos0.. with angles computed here.
func rope64(x []float64, T, H, D, pos0 int, theta float64, interleaved bool) []float64 {
	y := append([]float64(nil), x...)
	for t := 0; t < T; t++ {
		for h := 0; h < H; h++ {
			v := y[(t*H+h)*D : (t*H+h+1)*D]
			for j := 0; j < D/2; j++ {
				a := float64(pos0+t) / math.Pow(theta, float64(2*j)/float64(D))
				c, s := math.Cos(a), math.Sin(a)
				i0, i1 := j, j+D/2
				if interleaved {
					i0, i1 = 2*j, 2*j+1
				}
				x0, x1 := v[i0], v[i1]
				v[i0] = x0*c - x1*s
				v[i1] = x1*c + x0*s
			}
		}
	}
	return y
}

// attentionOpt64 adds a sliding window (keys j with i-window < j <= i,
// window 0: all) and score soft-capping (softCap 0: none), written from
// their definitions: masked keys are skipped. lse [NH, T] is each query
// row's log-sum-exp of its scores.
func attentionOpt64(q, k, v []float64, T, Tk, NH, NKV, D int, scale float64, window int, softCap float64) (out, lse []float64) {
	out, lse = make([]float64, T*NH*D), make([]float64, NH*T)
	for h := 0; h < NH; h++ {
		g := h / (NH / NKV)
		for i := 0; i < T; i++ {
			n := Tk - T + i + 1
			s := make([]float64, n)
			m := math.Inf(-1)
			for j := 0; j < n; j++ {
				if window > 0 && j <= n-1-window {
					s[j] = math.Inf(-1)
					continue
				}
				for d := 0; d < D; d++ {
					s[j] += q[(i*NH+h)*D+d] * k[(j*NKV+g)*D+d]
				}
				s[j] *= scale
				if softCap > 0 {
					s[j] = softCap * math.Tanh(s[j]/softCap)
				}
				m = math.Max(m, s[j])
			}
			var z float64
			for j := range s {
				s[j] = math.Exp(s[j] - m)
				z += s[j]
			}
			lse[h*T+i] = m + math.Log(z)
			for j := range s {
				for d := 0; d < D; d++ {
					out[(i*NH+h)*D+d] += s[j] / z * v[(j*NKV+g)*D+d]
				}
			}
		}
	}
	return out, lse
}

// crossEntropy64 is the mean loss over rows whose target != ignore.
func crossEntropy64(logits []float64, targets []int, N, V, ignore int) float64 {
	var loss float64
	count := 0
	for i := 0; i < N; i++ {
		if targets[i] == ignore {
			continue
		}
		r := logits[i*V : (i+1)*V]
		m := math.Inf(-1)
		for _, e := range r {
			m = math.Max(m, e)
		}
		var s float64
		for _, e := range r {
			s += math.Exp(e - m)
		}
		loss += math.Log(s) + m - r[targets[i]]
		count++
	}
	if count == 0 {
		return 0
	}
	return loss / float64(count)
}

// dotLoss is Σ y⊙r: differentiating it gives the vector-Jacobian product
// with dout = r.
func dotLoss(y, r []float64) float64 {
	var s float64
	for i := range y {
		s += y[i] * r[i]
	}
	return s
}
