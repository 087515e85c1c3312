package train

import (
	"math"

	"github.com/golora/golora/tensor"
)

// Param is one trainable tensor with its gradient buffer.
type Param struct {
	Name string
	W, G *tensor.Tensor
	// Group names the parameter's role: "lora_A", "lora_B", "magnitude",
	// "adapter", "head", "full", ... LoRA+ scales the learning rate of
	// "lora_B" by Config.LoRAPlusRatio.
	Group string
	// NoDecay exempts the tensor from weight decay (norms, biases, DoRA
	// magnitudes), as is standard for AdamW.
	NoDecay bool
}

// adamW is AdamW (Loshchilov & Hutter 2019) as PyTorch's torch.optim.AdamW
// computes it: decoupled decay p ← p·(1 − lr·wd), then
// p ← p − lr·m̂/(√v̂ + eps) with bias-corrected moments.
type adamW struct {
	beta1, beta2, eps float64
	params            []Param
	m, v              [][]float32
	// lrScale and wd are per parameter, resolved once from the groups.
	lrScale, wd []float64
}

func newAdamW(cfg Config, params []Param) *adamW {
	o := &adamW{beta1: cfg.Beta1, beta2: cfg.Beta2, eps: cfg.Eps, params: params}
	for _, p := range params {
		o.m = append(o.m, make([]float32, p.W.Len()))
		o.v = append(o.v, make([]float32, p.W.Len()))
		scale := 1.0
		if p.Group == "lora_B" {
			scale = cfg.LoRAPlusRatio
		}
		wd := cfg.WeightDecay
		if p.NoDecay {
			wd = 0
		}
		o.lrScale = append(o.lrScale, scale)
		o.wd = append(o.wd, wd)
	}
	return o
}

// step applies update number t (1-based, for the bias correction) with the
// base learning rate lr.
func (o *adamW) step(t int, lr float64) {
	bc1 := 1 - math.Pow(o.beta1, float64(t))
	bc2 := 1 - math.Pow(o.beta2, float64(t))
	for i, p := range o.params {
		plr := lr * o.lrScale[i]
		adamWUpdate(p.W.Data, p.G.Data, o.m[i], o.v[i], float32(o.beta1), float32(o.beta2), float32(o.eps),
			float32(plr/bc1), float32(math.Sqrt(bc2)), float32(1-plr*o.wd[i]))
	}
}

// adamWUpdate is the flat inner loop: step = lr/bc1 (bias correction of m
// folded in), sbc2 = √bc2, decay = 1 − lr·wd.
func adamWUpdate(w, g, m, v []float32, b1, b2, eps, step, sbc2, decay float32) {
	g = g[:len(w)]
	m = m[:len(w)]
	v = v[:len(w)]
	for j := range w {
		gj := g[j]
		mj := b1*m[j] + (1-b1)*gj
		vj := b2*v[j] + (1-b2)*gj*gj
		m[j], v[j] = mj, vj
		denom := float32(math.Sqrt(float64(vj)))/sbc2 + eps
		w[j] = w[j]*decay - step*mj/denom
	}
}

// gradNorm is the global L2 norm of all gradients, accumulated in float64 so
// it does not depend on how many tensors the gradients are split into.
func gradNorm(params []Param) float64 {
	var s float64
	for _, p := range params {
		for _, g := range p.G.Data {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// clipGrads scales all gradients by maxNorm/(norm+1e-6) when the global norm
// exceeds maxNorm (torch.nn.utils.clip_grad_norm_), returning the norm
// before clipping.
func clipGrads(params []Param, maxNorm float64) float64 {
	norm := gradNorm(params)
	if maxNorm > 0 && norm > maxNorm {
		c := float32(maxNorm / (norm + 1e-6))
		for _, p := range params {
			for j := range p.G.Data {
				p.G.Data[j] *= c
			}
		}
	}
	return norm
}

// lrAt is the learning rate of optimizer step t (1-based) of total: linear
// warmup from lr/warmup to lr over the first warmup steps, then constant,
// linear decay to 0, or cosine decay to 0 at step total.
func lrAt(schedule string, lr float64, warmup, total, t int) float64 {
	if t <= warmup {
		return lr * float64(t) / float64(warmup)
	}
	n := total - warmup
	if n <= 0 {
		return lr
	}
	// progress is 0 just after warmup and 1 at the last step; the last step
	// still learns a little (it would be wasted with lr 0).
	progress := float64(t-warmup) / float64(n+1)
	switch schedule {
	case "linear":
		return lr * (1 - progress)
	case "cosine":
		return lr * 0.5 * (1 + math.Cos(math.Pi*progress))
	default:
		return lr
	}
}
