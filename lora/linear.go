package lora

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"unsafe"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// Adapter is one named LoRA adapter on one frozen linear layer (Hu et al.
// 2021):
//
//	h = W0·x + s·B·A·dropout(x)    A (r, in), B (out, r), s = alpha/r (or alpha/√r)
//
// W0·x and B·(A·x) are computed side by side (two thin GEMMs through the
// rank-r bottleneck); W0 + s·B·A is formed only by Merge. A variant (DoRA)
// changes the forward and adds its own state.
type Adapter struct {
	Name    string         // adapter name ("default")
	Module  string         // PEFT module name, e.g. model.layers.0.self_attn.q_proj
	Alpha   float64        // lora_alpha after alpha_pattern
	Scaling float32        // s
	A, B    *tensor.Tensor // (r, in), (out, r)
	DA, DB  *tensor.Tensor // gradients of A and B; nil when frozen
	Variant Variant        // nil: plain LoRA
	// Bias is lora_B's bias (PEFT's lora_bias), nil without: the layer
	// gets s·(B·A·x + Bias); DBias is its gradient.
	Bias, DBias *tensor.Tensor

	// A0, B0 are the factors at initialisation, kept for PiSSA and OLoRA,
	// whose base weight is the residual W0 - s·B0·A0 (see SaveConverted).
	A0, B0 *tensor.Tensor

	// Dropout is the probability of zeroing an input of the LoRA path; it
	// applies only while Train is set (inverted dropout, seeded).
	Dropout float32
	Train   bool

	base   *nn.Linear // the layer the adapter sits on (DoRA reads W0)
	rng    *rand.Rand
	mask   []float32 // (n, in) keep mask × 1/(1-p) of the last training forward
	xd     []float32 // (n, in) dropped input
	t      []float32 // (n, r)
	dt     []float32 // (n, r)
	tmp    []float32 // (n, in)
	bt     []float32 // (r, out) Bᵀ
	btOf   []float32 // (out, r) a copy of the B bt came from (trainable adapters)
	btFrom *float32  // &B.Data[0] when bt was made
	dbt    []float32 // (r, out) dBᵀ
	part   partials  // per-worker accumulators

	// pending marks a forward not yet followed by its backward; lastX and
	// lastN identify its input, so the backward can reuse t and a
	// checkpointing recompute can replay the dropout mask.
	pending bool
	lastX   *float32
	lastN   int
}

// NewAdapter returns a plain LoRA adapter of rank r on l with zero A and B;
// an init function fills them.
func NewAdapter(name, module string, l *nn.Linear, r int, alpha float64, rslora bool, seed uint64) *Adapter {
	return &Adapter{
		Name: name, Module: module, Alpha: alpha,
		Scaling: float32(scaling(alpha, r, rslora)),
		A:       tensor.New(r, l.In()), B: tensor.New(l.Out(), r),
		base: l, rng: rand.New(rand.NewPCG(seed, 0x6c6f7261)),
	}
}

// R is the adapter's rank.
func (a *Adapter) R() int { return a.A.Shape[0] }

// In is the input width of the layer.
func (a *Adapter) In() int { return a.A.Shape[1] }

// Out is the output width of the layer.
func (a *Adapter) Out() int { return a.B.Shape[0] }

// EnableGrad allocates DA and DB (and the variant's gradients), making the
// adapter trainable.
func (a *Adapter) EnableGrad() {
	a.DA, a.DB = tensor.New(a.A.Shape...), tensor.New(a.B.Shape...)
	if a.Bias != nil {
		a.DBias = tensor.New(a.Bias.Shape...)
	}
	if a.Variant != nil {
		a.Variant.EnableGrad()
	}
}

// Freeze drops DA, DB and DBias: the adapter is served, not trained. A
// frozen adapter's weights are not expected to change in place: its
// forward keeps Bᵀ from the first call on without comparing B again
// (replacing the B tensor, or EnableGrad, makes it transpose afresh), so a
// decode step reads each adapter's factors once, and their gradients no
// longer take memory.
func (a *Adapter) Freeze() { a.DA, a.DB, a.DBias = nil, nil, nil }

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// sameInput reports whether x [n, in] is the input of the pending forward.
func (a *Adapter) sameInput(x []float32, n int) bool {
	return a.pending && n > 0 && a.lastX == &x[0] && a.lastN == n
}

// input returns dropout(x), drawing and saving a fresh mask in training,
// and records x as the pending forward's input.
func (a *Adapter) input(x []float32, n int) []float32 {
	// A second forward over the same buffer before the backward is a
	// gradient-checkpointing recompute: it must see the same mask, as
	// PyTorch's checkpoint replays the RNG state.
	again := a.sameInput(x, n) && len(a.mask) == n*a.In()
	a.pending, a.lastX, a.lastN = n > 0, nil, n
	if n > 0 {
		a.lastX = &x[0]
	}
	if !a.Train || a.Dropout == 0 {
		a.mask = a.mask[:0]
		return x
	}
	in := a.In()
	a.mask, a.xd = grow(a.mask, n*in), grow(a.xd, n*in)
	if !again {
		keep := 1 / (1 - a.Dropout)
		for i := range a.mask {
			if a.rng.Float32() < a.Dropout {
				a.mask[i] = 0
			} else {
				a.mask[i] = keep
			}
		}
	}
	kernels.Mul(a.xd[:n*in], x[:n*in], a.mask)
	return a.xd[:n*in]
}

// dropped returns the dropped input of the last forward for backward.
func (a *Adapter) dropped(x []float32, n int) []float32 {
	if len(a.mask) == 0 {
		return x
	}
	if len(a.mask) != n*a.In() {
		panic(fmt.Sprintf("lora: %s: backward over %d rows after a forward over %d", a.Module, n, len(a.mask)/a.In()))
	}
	return a.xd[:n*a.In()]
}

// Forward adds the adapter to y [n, out] = W0·x for x [n, in].
func (a *Adapter) Forward(x, y []float32, n int) {
	if a.Variant != nil {
		a.Variant.Forward(a, x, y, n)
		return
	}
	a.forwardLowRank(a.input(x, n), y, n)
	if a.Bias != nil {
		out := a.Out()
		for i := 0; i < n; i++ {
			axpy(y[i*out:(i+1)*out], a.Scaling, a.Bias.Data)
		}
	}
}

// lowRank computes t = xd·Aᵀ (n, r).
func (a *Adapter) lowRank(xd []float32, n int) {
	r, in := a.R(), a.In()
	a.t = grow(a.t, n*r)
	rowsDot(a.t, 1, xd, a.A.Data, n, r, in)
}

// bT returns Bᵀ (r, out), the layout the row loops stream. It is kept and
// redone only when B has changed: a frozen adapter applied to a decode row
// or two per step spent more time transposing B at every forward than
// multiplying by it. A trainable adapter's B is compared with a copy of the
// B it came from (at memory speed; a training step changes it); a frozen
// one's only by identity (see Freeze).
func (a *Adapter) bT() []float32 {
	r, out := a.R(), a.Out()
	b := a.B.Data[:r*out]
	if len(b) == 0 {
		return nil
	}
	if len(a.bt) == len(b) && a.btFrom == &b[0] && (a.DB == nil || bytes.Equal(floatBytes(a.btOf), floatBytes(b))) {
		return a.bt
	}
	a.bt = grow(a.bt, r*out)
	for k := 0; k < r; k++ {
		dst, src := a.bt[k*out:(k+1)*out], b[k:]
		for o := range dst {
			dst[o] = src[o*r]
		}
	}
	a.btFrom, a.btOf = &b[0], nil
	if a.DB != nil {
		a.btOf = append(a.btOf[:0], b...)
	}
	return a.bt
}

// floatBytes views f's memory as bytes (for a fast exact comparison; NaNs
// compare by their bits).
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// forwardLowRank computes t = xd·Aᵀ (kept for the backward) and
// y += s·t·Bᵀ, in one pass over the rows.
func (a *Adapter) forwardLowRank(xd, y []float32, n int) {
	r := a.R()
	a.t = grow(a.t, n*r)
	rowsDotAxpy(a.t, xd, a.A.Data, y, a.Scaling, a.bT(), n, r, a.In(), a.Out())
}

// Backward accumulates DA, DB and the adapter's share of dx from dy, and
// returns the gradient of the W0·x path (dy itself for plain LoRA).
func (a *Adapter) Backward(x, dy, dx []float32, n int) []float32 {
	if a.Variant != nil {
		return a.Variant.Backward(a, x, dy, dx, n)
	}
	if a.DBias != nil {
		out := a.Out()
		for i := 0; i < n; i++ {
			axpy(a.DBias.Data, a.Scaling, dy[i*out:(i+1)*out])
		}
	}
	a.backwardLowRank(x, dy, dx, n)
	return dy
}

// backwardLowRank back-propagates g through s·B·A·dropout(x):
// dB += s·gᵀ·t, dt = s·g·B, dA += dtᵀ·xd, dx += (dt·A) ⊙ mask.
func (a *Adapter) backwardLowRank(x, g, dx []float32, n int) {
	reuse := a.sameInput(x, n) && len(a.t) == n*a.R()
	a.pending = false
	if a.DA == nil && a.DB == nil && dx == nil {
		return
	}
	r, in, out := a.R(), a.In(), a.Out()
	xd := a.dropped(x, n)
	if !reuse { // t of the forward is gone: recompute it
		a.lowRank(xd, n)
	}
	bt := a.bT()
	a.dt = grow(a.dt, n*r)
	needDt := a.DA != nil || dx != nil
	var dt []float32
	if needDt {
		dt = a.dt
	}
	if a.DB != nil {
		// dBᵀ (r, out) += s·tᵀ·g, with dt = s·g·B in the same pass over g.
		a.dbt = grow(a.dbt, r*out)
		clear(a.dbt)
		outerAcc(a.dbt, a.Scaling, a.t, g, n, r, out, dt, a.Scaling, bt, &a.part)
		for o := 0; o < out; o++ {
			for k := 0; k < r; k++ {
				a.DB.Data[o*r+k] += a.dbt[k*out+o]
			}
		}
	} else if needDt {
		rowsDot(a.dt, a.Scaling, g, bt, n, r, out)
	}
	if !needDt {
		return
	}
	if a.DA != nil {
		outerAcc(a.DA.Data, 1, a.dt, xd, n, r, in, nil, 0, nil, &a.part)
	}
	if dx == nil {
		return
	}
	if len(a.mask) == 0 {
		rowsAxpy(dx, 1, a.dt, a.A.Data, n, r, in)
		return
	}
	a.tmp = grow(a.tmp, n*in)
	clear(a.tmp)
	rowsAxpy(a.tmp, 1, a.dt, a.A.Data, n, r, in)
	kernels.Mul(a.tmp, a.tmp, a.mask)
	kernels.Add(dx[:n*in], a.tmp)
}

// DeltaWeight returns s·B·A as (out, in), or its transpose (in, out) for a
// layer stored in Conv1D layout (fan_in_fan_out).
func (a *Adapter) DeltaWeight(fanInFanOut bool) *tensor.Tensor {
	r, in, out := a.R(), a.In(), a.Out()
	if fanInFanOut {
		d := tensor.New(in, out)
		kernels.Sgemm(true, true, in, out, r, a.Scaling, a.A.Data, in, a.B.Data, r, 0, d.Data, out)
		return d
	}
	d := tensor.New(out, in)
	kernels.Sgemm(false, false, out, in, r, a.Scaling, a.B.Data, r, a.A.Data, in, 0, d.Data, in)
	return d
}

// mergeInto writes the merged weight for w (out, in) into dst; dst may be w.
func (a *Adapter) mergeInto(dst, w []float32) {
	if a.Variant != nil {
		a.Variant.Merge(a, dst, w)
		return
	}
	copy(dst, w)
	r, in, out := a.R(), a.In(), a.Out()
	kernels.Sgemm(false, false, out, in, r, a.Scaling, a.B.Data, r, a.A.Data, in, 1, dst, in)
}

// mergeBias adds sign·s·Bias to the base bias b (lora_bias).
func (a *Adapter) mergeBias(b *tensor.Tensor, sign float32) {
	if a.Bias != nil && b != nil {
		axpy(b.Data, sign*a.Scaling, a.Bias.Data)
	}
}

// unmergeFrom restores w (out, in) to what it was before mergeInto.
func (a *Adapter) unmergeFrom(w []float32) {
	if a.Variant != nil {
		a.Variant.Unmerge(a, w)
		return
	}
	r, in, out := a.R(), a.In(), a.Out()
	kernels.Sgemm(false, false, out, in, r, -a.Scaling, a.B.Data, r, a.A.Data, in, 1, w, in)
}

// NumParams is the number of trainable values the adapter adds.
func (a *Adapter) NumParams() int {
	n := a.A.Len() + a.B.Len()
	if a.Bias != nil {
		n += a.Bias.Len()
	}
	if a.Variant != nil {
		n += a.Variant.NumParams()
	}
	return n
}
