package model

import (
	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// Row-exact steps. kernels.Sgemm sums a product in a different order for
// M ≤ 4 rows (dot products) than for more (the blocked kernels), so the
// logits of one sequence would depend on how many other sequences shared
// its Step. With SetRowExact each row's linears run as they would if the
// row were stepped alone: every row with one new token (decode) through
// kernels.SgemmRows, which matches a one-row Sgemm bit for bit while still
// reading each weight once for all of them, and the prefill chunks (several
// new tokens) through one Sgemm for all chunks of 5 rows or more (their rows
// get the bits of their own product, kernels.RowStable), shorter ones each
// through its own Sgemm. The
// rest of a step is already per row: norms, RoPE and activations per
// token, attention per sequence, LoRA deltas row by row (lora's thin
// loops). So a greedy completion does not depend on the batch it ran in.
type rowExact struct {
	on     bool
	single []int // rows (token indices) that are a sequence's only new token
	stable []int // rows of prompt chunks whose product is kernels.RowStable
	gx, gy []float32
}

// SetRowExact turns row-exact steps on or off (default off; it costs a
// little speed when prefill chunks and decode rows share a step).
func (m *Transformer) SetRowExact(on bool) { m.dec.exact.on = on }

// linearRows is linear for a row-exact step of n rows: either the blocks'
// rows (one per new token, grouped by the step's spans) or the head's (one
// per active sequence, each a row of its own).
func (m *Transformer) linearRows(l *nn.Linear, x, y []float32, n int) {
	in, out := l.In(), l.Out()
	W := l.W
	e := &m.dec.exact
	// product is x·W0ᵀ for k rows as Forward computes it; rows gives each
	// of k rows its one-row bits. A 16-bit base (W.Half) has its own kernels.
	product := func(k int, x, y []float32) {
		if W.IsHalf() {
			kernels.GemmHalf(W.DType, true, k, out, in, x, in, W.Half, in, 0, y, out)
		} else {
			kernels.Sgemm(false, true, k, out, in, 1, x, in, W.Data, in, 0, y, out)
		}
	}
	rows := func(k int, x, y []float32) {
		if W.IsHalf() {
			kernels.GemmHalfRows(W.DType, k, out, in, x, in, W.Half, in, y, out)
		} else {
			kernels.SgemmRows(k, out, in, x, in, W.Data, in, y, out)
		}
	}
	e.single = e.single[:0]
	total := 0
	for _, sp := range m.dec.spans {
		total += sp.n
	}
	if n != total { // the head: every row stands alone
		rows(n, x, y)
	} else {
		e.stable = e.stable[:0]
		for _, sp := range m.dec.spans {
			switch {
			case sp.n == 1:
				e.single = append(e.single, sp.start)
			case !W.IsHalf() && kernels.RowStable(sp.n, out, in):
				// A prompt chunk: the chunks of all requests in this step
				// share one pass over W, each row with the bits of its
				// own product (kernels.RowStable; not established for the
				// 16-bit kernels, whose chunks run one by one).
				for r := sp.start; r < sp.start+sp.n; r++ {
					e.stable = append(e.stable, r)
				}
			default:
				product(sp.n, x[sp.start*in:], y[sp.start*out:])
			}
		}
		e.gathered(e.single, x, y, in, out, rows)
		e.gathered(e.stable, x, y, in, out, product)
	}
	l.AddDeltaBias(x, y, n)
}

// gathered runs f on the rows of x listed in rows (ascending) and puts its
// k results in the same rows of y, copying only when the rows are not
// contiguous.
func (e *rowExact) gathered(rows []int, x, y []float32, in, out int, f func(k int, gx, gy []float32)) {
	k := len(rows)
	if k == 0 {
		return
	}
	if rows[k-1]-rows[0] == k-1 {
		r0 := rows[0]
		f(k, x[r0*in:], y[r0*out:])
		return
	}
	e.gx, e.gy = grow(&e.gx, k*in), grow(&e.gy, k*out)
	for j, r := range rows {
		copy(e.gx[j*in:(j+1)*in], x[r*in:(r+1)*in])
	}
	f(k, e.gx, e.gy)
	for j, r := range rows {
		copy(y[r*out:(r+1)*out], e.gy[j*out:(j+1)*out])
	}
}
