package nn

import (
	"math"

	"github.com/golora/golora/kernels"
)

// AdamW holds the hyperparameters of decoupled-weight-decay Adam
// (Loshchilov & Hutter 2019) as torch.optim.AdamW implements it.
// LR and WeightDecay are defaults; Update takes the values in force for a
// step, so schedules and parameter groups need no copy of the struct.
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
}

// DefaultAdamW returns PyTorch's defaults: lr 1e-3, betas (0.9, 0.999),
// eps 1e-8, weight decay 0.01.
func DefaultAdamW() AdamW {
	return AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

// Update applies one AdamW step to param given grad, updating the moment
// buffers m and v (same length, zero before step 1). step counts from 1.
// The formula is PyTorch's:
//
//	param *= 1 - lr*wd
//	m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²
//	param -= lr/(1-β1^step) * m / (sqrt(v)/sqrt(1-β2^step) + eps)
func (o AdamW) Update(param, grad, m, v []float32, step int, lr, wd float32) {
	n := len(param)
	checkLen("AdamW.Update: grad", grad, n)
	checkLen("AdamW.Update: m", m, n)
	checkLen("AdamW.Update: v", v, n)
	if step < 1 {
		panic("nn: AdamW.Update: step counts from 1")
	}
	grad, m, v = grad[:n], m[:n], v[:n]
	b1, b2 := o.Beta1, o.Beta2
	bc1 := 1 - math.Pow(float64(b1), float64(step))
	bc2 := 1 - math.Pow(float64(b2), float64(step))
	stepSize := float32(float64(lr) / bc1)
	rbc2 := float32(1 / math.Sqrt(bc2))
	decay := 1 - lr*wd
	eps := o.Eps
	kernels.For(n, 1<<14, func(lo, hi int) {
		p, g, m, v := param[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi]
		for i, gi := range g {
			mi := b1*m[i] + (1-b1)*gi
			vi := b2*v[i] + (1-b2)*gi*gi
			m[i], v[i] = mi, vi
			denom := sqrt32(vi)*rbc2 + eps
			p[i] = p[i]*decay - stepSize*mi/denom
		}
	})
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// GlobalNorm returns the L2 norm of all the gradients together, summed in
// float64 chunk by chunk.
func GlobalNorm(grads ...[]float32) float64 {
	const chunk = 4096
	var s float64
	for _, g := range grads {
		for i := 0; i < len(g); i += chunk {
			s += float64(kernels.SumSq(g[i:min(i+chunk, len(g))]))
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales the gradients in place so their global norm is at
// most maxNorm, as torch.nn.utils.clip_grad_norm_: the scale is
// maxNorm/(norm+1e-6), applied when it is below 1. It returns the norm
// before clipping. A NaN or infinite norm leaves the gradients unchanged
// (PyTorch would fill them with NaN); the caller should skip that step.
func ClipGradNorm(maxNorm float64, grads ...[]float32) (norm float64) {
	norm = GlobalNorm(grads...)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef < 1 {
		for _, g := range grads {
			kernels.Scale(float32(coef), g)
		}
	}
	return norm
}
