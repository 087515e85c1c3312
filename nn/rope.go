package nn

import (
	"math"
	"strconv"
	"sync"

	"github.com/golora/golora/kernels"
)

// RoPE applies rotary position embeddings (Su et al. 2021) to queries or
// keys laid out [T, H, D]. Dimension pair j of a head at position p is
// rotated by the angle p * theta^(-2j/D), j = 0..D/2-1. Two conventions pair
// the dimensions differently:
//
//   - Hugging Face rotate_half (Interleaved false): pairs (j, j+D/2);
//   - llama2.c / Meta (Interleaved true): pairs (2j, 2j+1).
//
// The cos/sin tables are computed in float64 and stored as float32, and
// grow on demand past the maxPos given to NewRoPE, so a KV-cache decode may
// run past it. A RoPE is safe for concurrent use. Its exported fields
// describe it and are read-only: the tables were built from them.
type RoPE struct {
	D           int     // rotated dimensions per head (even)
	Theta       float64 // base, rope_theta (0 when built from frequencies)
	Interleaved bool    // llama2.c pairs instead of rotate_half
	// HeadSize is the row stride of a head when only its first D
	// dimensions rotate (partial RoPE, e.g. Phi-4-mini's
	// partial_rotary_factor); 0 means D. Set it before first use.
	HeadSize int

	invFreq []float64 // (D/2) angle per position of each pair
	scale   float64   // cos and sin are multiplied by it (YaRN/LongRoPE attention factor)

	mu       sync.RWMutex
	cos, sin []float32 // (positions, D/2)
}

// NewRoPE returns the rotary embedding for head size headDim with tables
// for positions 0..maxPos-1.
func NewRoPE(headDim, maxPos int, theta float64, interleaved bool) *RoPE {
	if headDim <= 0 || headDim%2 != 0 {
		panic("nn: NewRoPE: head size must be even and positive, got " + strconv.Itoa(headDim))
	}
	inv := make([]float64, headDim/2)
	for j := range inv {
		inv[j] = math.Pow(theta, -2*float64(j)/float64(headDim))
	}
	r := NewRoPEFreqs(inv, 1, maxPos, interleaved)
	r.Theta = theta
	return r
}

// NewRoPEFreqs returns the rotary embedding whose pair j turns by
// invFreq[j] per position (head size 2·len(invFreq)), with cos and sin
// multiplied by scale: the form every scaled RoPE (linear, dynamic NTK,
// YaRN, Llama 3, LongRoPE) reduces to. Multiplying cos and sin by scale
// multiplies the rotated vector by it, so Backward stays the rotation by
// minus the angle with the same tables.
func NewRoPEFreqs(invFreq []float64, scale float64, maxPos int, interleaved bool) *RoPE {
	if len(invFreq) == 0 {
		panic("nn: NewRoPEFreqs: no frequencies")
	}
	r := &RoPE{D: 2 * len(invFreq), Interleaved: interleaved, invFreq: append([]float64(nil), invFreq...), scale: scale}
	r.grow(max(maxPos, 1))
	return r
}

// grow extends the tables to cover positions 0..n-1.
func (r *RoPE) grow(n int) {
	half := r.D / 2
	have := len(r.cos) / half
	if n <= have {
		return
	}
	n = max(n, 2*have) // amortise decode running past the end
	cos := make([]float32, n*half)
	sin := make([]float32, n*half)
	copy(cos, r.cos)
	copy(sin, r.sin)
	for p := have; p < n; p++ {
		for j := 0; j < half; j++ {
			a := float64(p) * r.invFreq[j]
			cos[p*half+j] = float32(math.Cos(a) * r.scale)
			sin[p*half+j] = float32(math.Sin(a) * r.scale)
		}
	}
	r.cos, r.sin = cos, sin
}

// tables returns cos and sin covering positions up to end-1.
func (r *RoPE) tables(end int) (cos, sin []float32) {
	half := r.D / 2
	r.mu.RLock()
	cos, sin = r.cos, r.sin
	r.mu.RUnlock()
	if len(cos) >= end*half {
		return cos, sin
	}
	r.mu.Lock()
	r.grow(end)
	cos, sin = r.cos, r.sin
	r.mu.Unlock()
	return cos, sin
}

// Forward rotates x [T, H, D] (or [T, H, HeadSize], first D of each head)
// in place; row t holds position pos0+t.
func (r *RoPE) Forward(x []float32, T, H int, pos0 int) {
	r.rotate(x, T, H, 0, pos0, 1)
}

// Backward turns the gradient of Forward's output into the gradient of its
// input, in place on dx [T, H, D]: the rotation by minus the angle.
func (r *RoPE) Backward(dx []float32, T, H int, pos0 int) {
	r.rotate(dx, T, H, 0, pos0, -1)
}

// ForwardRows and BackwardRows are Forward and Backward on T rows of H
// heads that are ld floats apart (the q or k part of a fused q|k|v
// projection's rows).
func (r *RoPE) ForwardRows(x []float32, T, H, ld, pos0 int) { r.rotate(x, T, H, ld, pos0, 1) }

// BackwardRows: see ForwardRows.
func (r *RoPE) BackwardRows(dx []float32, T, H, ld, pos0 int) { r.rotate(dx, T, H, ld, pos0, -1) }

// rotate turns T rows of H heads, ld apart (0: packed), by sign·angle.
func (r *RoPE) rotate(x []float32, T, H, ld, pos0 int, sign float32) {
	D, half := r.D, r.D/2
	S := D
	if r.HeadSize > 0 {
		S = r.HeadSize
	}
	if ld == 0 {
		ld = H * S
	}
	if T > 0 {
		checkLen("RoPE: x", x, (T-1)*ld+H*S)
	}
	if pos0 < 0 {
		panic("nn: RoPE: negative position " + strconv.Itoa(pos0))
	}
	cosT, sinT := r.tables(pos0 + T)
	for t := 0; t < T; t++ {
		p := pos0 + t
		c := cosT[p*half : (p+1)*half]
		s := sinT[p*half : (p+1)*half]
		for h := 0; h < H; h++ {
			v := x[t*ld+h*S : t*ld+h*S+D]
			if r.Interleaved {
				for j, cj := range c {
					pair := v[2*j : 2*j+2 : 2*j+2]
					a, b := pair[0], pair[1]
					sj := sign * s[j]
					pair[0] = a*cj - b*sj
					pair[1] = b*cj + a*sj
				}
			} else {
				kernels.Rotate(v[:half], v[half:D], c, s, sign)
			}
		}
	}
}
