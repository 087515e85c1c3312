package train

import (
	"math"

	"github.com/golora/golora/nn"
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

// adamW is the trainer's optimizer state: AdamW's moments per parameter
// (checkpointed for exact resume) and each parameter's learning-rate scale
// and weight decay, resolved once from the groups. The update itself is
// nn.AdamW's, checked there against torch.optim.AdamW.
type adamW struct {
	nn.AdamW
	params []Param
	m, v   [][]float32
	// lrScale and wd are per parameter.
	lrScale, wd []float64
}

func newAdamW(cfg Config, params []Param) *adamW {
	o := &adamW{AdamW: nn.AdamW{Beta1: float32(cfg.Beta1), Beta2: float32(cfg.Beta2), Eps: float32(cfg.Eps)}, params: params}
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
	for i, p := range o.params {
		o.Update(p.W.Data, p.G.Data, o.m[i], o.v[i], t, float32(lr*o.lrScale[i]), float32(o.wd[i]))
	}
}

// clipGrads clips the global gradient norm to maxNorm (0: no clipping) as
// torch.nn.utils.clip_grad_norm_ does, returning the norm before clipping.
func clipGrads(params []Param, maxNorm float64) float64 {
	grads := make([][]float32, len(params))
	for i, p := range params {
		grads[i] = p.G.Data
	}
	if maxNorm <= 0 {
		return nn.GlobalNorm(grads...)
	}
	return nn.ClipGradNorm(maxNorm, grads...)
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
