package lora

import (
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/tensor"
)

// DoRA is weight-decomposed LoRA (Liu et al. 2024): the adapted weight is
// split into a direction and a trained magnitude m per output row,
//
//	W' = m ⊙ (W0 + s·B·A) / ‖W0 + s·B·A‖    (norm of each output row)
//
// computed as PEFT does, without forming W': with ms = m/‖·‖ and b = W0·x,
// y = b + (ms-1)⊙b + ms⊙(s·B·A·x) = ms ⊙ (b + s·B·A·x). Like PEFT (and
// the paper's §4.3) the norm is treated as a constant in the backward
// unless ExactNormGrad is set. m starts at ‖W0 + s·B·A‖, so a zero-init
// adapter is the identity. With dropout, b is W0·dropout(x), as in PEFT.
type DoRA struct {
	M, DM *tensor.Tensor // (out) magnitude and its gradient

	// ExactNormGrad also back-propagates through the row norm into A and B.
	ExactNormGrad bool

	norm       []float32 // (out) ‖W0 + s·B·A‖ of the last forward
	ms         []float32 // (out) m / norm
	z          []float32 // (n, out) b + s·B·A·xd of the last forward
	g          []float32 // (n, out) scratch
	row        []float64 // (in) one row of W0 + s·B·A, float64
	v          []float32 // (32, in) rows of W0 + s·B·A
	mergedNorm []float32 // (out) norm at Merge, for Unmerge
}

// NewDoRA returns a DoRA variant for a layer with out outputs.
func NewDoRA(out int) *DoRA { return &DoRA{M: tensor.New(out)} }

// rowNorms computes ‖w + s·B·A‖ per output row into norm, a block of
// rows at a time through a small scratch (W0 + s·B·A is never held whole).
func (d *DoRA) rowNorms(a *Adapter, w []float32, norm []float32) {
	const block = 32
	r, in, out := a.R(), a.In(), a.Out()
	d.v = grow(d.v, block*in)
	for o0 := 0; o0 < out; o0 += block {
		rows := min(block, out-o0)
		v := d.v[:rows*in]
		copy(v, w[o0*in:(o0+rows)*in])
		kernels.Sgemm(false, false, rows, in, r, a.Scaling, a.B.Data[o0*r:], r, a.A.Data, in, 1, v, in)
		for o := 0; o < rows; o++ {
			row := v[o*in : (o+1)*in]
			norm[o0+o] = float32(math.Sqrt(float64(kernels.Dot(row, row))))
		}
	}
}

// weightRow fills d.row with row o of w + s·B·A.
func (d *DoRA) weightRow(a *Adapter, w []float32, o int) {
	r, in := a.R(), a.In()
	for j := range d.row {
		d.row[j] = float64(w[o*in+j])
	}
	for k := 0; k < r; k++ {
		c := float64(a.Scaling) * float64(a.B.Data[o*r+k])
		ak := a.A.Data[k*in : (k+1)*in]
		for j := range d.row {
			d.row[j] += c * float64(ak[j])
		}
	}
}

func growF64(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// Init sets m = ‖W0 + s·B·A‖.
func (d *DoRA) Init(a *Adapter, w0 []float32) { d.rowNorms(a, w0, d.M.Data) }

// Forward computes y ← y + (ms-1)⊙b + ms⊙(s·B·A·xd).
func (d *DoRA) Forward(a *Adapter, x, y []float32, n int) {
	out, in := a.Out(), a.In()
	d.norm, d.ms = grow(d.norm, out), grow(d.ms, out)
	d.rowNorms(a, a.base.W.Data, d.norm)
	for o := range d.ms {
		d.ms[o] = d.M.Data[o] / d.norm[o]
	}
	xd := a.input(x, n)
	d.z = grow(d.z, n*out)
	if len(a.mask) == 0 {
		copy(d.z, y[:n*out]) // b = y
	} else {
		kernels.Sgemm(false, true, n, out, in, 1, xd, in, a.base.W.Data, in, 0, d.z, out)
	}
	a.forwardLowRank(xd, d.z, n) // z = b + s·B·A·xd
	for i := 0; i < n; i++ {
		yi, zi := y[i*out:(i+1)*out], d.z[i*out:(i+1)*out]
		if len(a.mask) == 0 {
			kernels.Mul(yi, zi, d.ms)
			continue
		}
		// y + ms⊙z - b, with b = W0·xd folded in as z - lora: recompute b.
		for o := range yi {
			yi[o] += d.ms[o]*zi[o] - (zi[o] - d.loraPart(a, i, o))
		}
	}
}

// loraPart is (s·B·A·xd)[i, o] from the cached t.
func (d *DoRA) loraPart(a *Adapter, i, o int) float32 {
	r := a.R()
	var v float32
	for k := 0; k < r; k++ {
		v += a.t[i*r+k] * a.B.Data[o*r+k]
	}
	return a.Scaling * v
}

// Backward accumulates dm = Σ dy⊙z/norm, back-propagates ms⊙dy through the
// low-rank path and returns the gradient of the incoming y.
func (d *DoRA) Backward(a *Adapter, x, dy, dx []float32, n int) []float32 {
	out, in := a.Out(), a.In()
	if len(d.z) < n*out {
		panic("lora: DoRA backward without forward")
	}
	if d.DM != nil || d.ExactNormGrad {
		dn := make([]float64, out) // Σ_i dy⊙z per output
		for i := 0; i < n; i++ {
			dyi, zi := dy[i*out:(i+1)*out], d.z[i*out:(i+1)*out]
			for o := range dn {
				dn[o] += float64(dyi[o]) * float64(zi[o])
			}
		}
		if d.DM != nil {
			for o := range dn {
				d.DM.Data[o] += float32(dn[o] / float64(d.norm[o]))
			}
		}
		if d.ExactNormGrad {
			d.normBackward(a, dn)
		}
	}
	d.g = grow(d.g, n*out)
	for i := 0; i < n; i++ {
		kernels.Mul(d.g[i*out:(i+1)*out], dy[i*out:(i+1)*out], d.ms)
	}
	a.backwardLowRank(x, d.g, dx, n)
	if len(a.mask) == 0 {
		return d.g // y_out = ms ⊙ (y_in + lora)
	}
	if dx != nil {
		// b = W0·xd contributes (ms-1)⊙dy·W0, masked.
		for i := 0; i < n; i++ {
			for o := 0; o < out; o++ {
				d.g[i*out+o] -= dy[i*out+o]
			}
		}
		a.tmp = grow(a.tmp, n*in)
		kernels.Sgemm(false, false, n, in, out, 1, d.g, out, a.base.W.Data, in, 0, a.tmp, in)
		kernels.Mul(a.tmp, a.tmp, a.mask)
		kernels.Add(dx[:n*in], a.tmp)
	}
	return dy
}

// normBackward adds the path through ‖V‖ (V = W0 + s·B·A): with
// c_o = Σ_i dy⊙z, dnorm_o = -m_o c_o / norm_o², dV_o = dnorm_o V_o / norm_o,
// then dB += s·dV·Aᵀ and dA += s·Bᵀ·dV.
func (d *DoRA) normBackward(a *Adapter, c []float64) {
	r, in := a.R(), a.In()
	d.row = growF64(d.row, in)
	s := float64(a.Scaling)
	for o := range c {
		nrm := float64(d.norm[o])
		k := -float64(d.M.Data[o]) * c[o] / (nrm * nrm * nrm)
		if k == 0 {
			continue
		}
		d.weightRow(a, a.base.W.Data, o) // V_o
		for q := 0; q < r; q++ {
			aq := a.A.Data[q*in : (q+1)*in]
			if a.DB != nil {
				var dot float64
				for j, v := range d.row {
					dot += v * float64(aq[j])
				}
				a.DB.Data[o*r+q] += float32(s * k * dot)
			}
			if a.DA != nil {
				cb := float32(s * k * float64(a.B.Data[o*r+q]))
				daq := a.DA.Data[q*in : (q+1)*in]
				for j, v := range d.row {
					daq[j] += cb * float32(v)
				}
			}
		}
	}
}

// Merge writes ms ⊙ (w + s·B·A) row by row and keeps the norm.
func (d *DoRA) Merge(a *Adapter, dst, w []float32) {
	in, out := a.In(), a.Out()
	d.mergedNorm = grow(d.mergedNorm, out)
	d.row = growF64(d.row, in)
	for o := 0; o < out; o++ {
		d.weightRow(a, w, o)
		var ss float64
		for _, v := range d.row {
			ss += v * v
		}
		nrm := math.Sqrt(ss)
		d.mergedNorm[o] = float32(nrm)
		f := float64(d.M.Data[o]) / nrm
		for j, v := range d.row {
			dst[o*in+j] = float32(f * v)
		}
	}
}

// Unmerge inverts Merge: w ← w·norm/m - s·B·A.
func (d *DoRA) Unmerge(a *Adapter, w []float32) {
	in, out, r := a.In(), a.Out(), a.R()
	for o := 0; o < out; o++ {
		f := float64(d.mergedNorm[o]) / float64(d.M.Data[o])
		for j := 0; j < in; j++ {
			v := f * float64(w[o*in+j])
			for k := 0; k < r; k++ {
				v -= float64(a.Scaling) * float64(a.B.Data[o*r+k]) * float64(a.A.Data[k*in+j])
			}
			w[o*in+j] = float32(v)
		}
	}
}

// Params names the magnitude as PEFT saves it.
func (d *DoRA) Params() []VariantParam {
	return []VariantParam{{Suffix: "lora_magnitude_vector", Group: GroupMagnitude, W: d.M, DW: d.DM}}
}

// EnableGrad allocates DM.
func (d *DoRA) EnableGrad() { d.DM = tensor.New(d.M.Shape...) }

// NumParams is the magnitude's length.
func (d *DoRA) NumParams() int { return d.M.Len() }
