package kernels

import "fmt"

// LoRA is one adapter's factors on one linear layer, as LoRARows reads
// them: y += Scale·BTᵀ·(A·x).
type LoRA struct {
	A     []float32 // (R, in), row-major
	BT    []float32 // (R, out): Bᵀ, row-major
	R     int
	Scale float32
}

// LoRARows adds to each row i < n of y (n, out) the adapter route[i]
// picks (none for -1), in one call for every adapter of a serving step
// (Punica's and S-LoRA's gathered "BGMV" product):
//
//	t_j = dot(x_i, A_j)               j < R, x (n, in)
//	y_i += (Scale·t_j)·BT_j           j = 0, 1, …, R-1 in turn
//
// with the bits of Dot and then Axpy calls in that order, which is what a
// row gets alone through the adapter's own forward: a row's result does
// not depend on the other rows or their adapters. Nothing is gathered or
// copied; the factors of the row's adapter are read in place, and only
// the adapters some row uses are looked at.
func LoRARows(y, x []float32, n, in, out int, route []int, ads []LoRA) {
	if len(route) < n || len(x) < n*in || len(y) < n*out {
		panic(fmt.Sprintf("kernels: LoRARows: %d rows of %d → %d with %d routes, len(x) %d, len(y) %d", n, in, out, len(route), len(x), len(y)))
	}
	for i, k := range route[:n] {
		if k < -1 || k >= len(ads) {
			panic(fmt.Sprintf("kernels: LoRARows: row %d routed to adapter %d of %d", i, k, len(ads)))
		}
		if k < 0 || in == 0 || out == 0 {
			continue
		}
		a := &ads[k]
		if a.R < 0 || len(a.A) < a.R*in || len(a.BT) < a.R*out {
			panic(fmt.Sprintf("kernels: LoRARows: adapter %d: rank %d, len(A) %d, len(BT) %d for %d → %d", k, a.R, len(a.A), len(a.BT), in, out))
		}
		loraRow(y[i*out:(i+1)*out], x[i*in:(i+1)*in], a)
	}
}

// loraChunk is how many ranks loraRow takes at a time: the products of a
// chunk are all computed before its updates, which keeps each update
// after every dot it needs and the order of the updates, whatever R.
const loraChunk = 16

// loraRow is LoRARows for one row: the dot products three A rows at a
// time (dot3, sharing the loads of x), then the chunk's updates in one
// pass over y (axpySeq) instead of one per rank: a decode row at width 64
// spent more in the 2·R calls and their horizontal sums than in the FMAs.
// The dot loop is DotN's, written out with the scale folded in: through
// DotN and a scaling pass the warm one-adapter serving step
// (BenchmarkLoRARows) ran 16% slower (median of 7 alternating rounds),
// call and slicing overhead on rank-8 rows 64 wide.
func loraRow(y, x []float32, a *LoRA) {
	in, out := len(x), len(y)
	var t [loraChunk]float32
	var s3 [3]float32
	for j0 := 0; j0 < a.R; j0 += loraChunk {
		m := min(loraChunk, a.R-j0)
		A := a.A[j0*in : (j0+m)*in]
		j := 0
		for ; j+3 <= m; j += 3 { // dot3(A_j, …, x) is dot(x, A_j): products commute
			dot3(A[j*in:(j+1)*in], A[(j+1)*in:(j+2)*in], A[(j+2)*in:(j+3)*in], x, &s3)
			t[j], t[j+1], t[j+2] = a.Scale*s3[0], a.Scale*s3[1], a.Scale*s3[2]
		}
		for ; j < m; j++ {
			t[j] = a.Scale * dot(x, A[j*in:(j+1)*in])
		}
		axpySeq(y, t[:m], a.BT[j0*out:(j0+m)*out], out)
	}
}

// axpySeqGeneric adds p[j]·v[j*ldv:j*ldv+len(y)] to y for each j in turn,
// one axpy call each, skipping a zero p[j] as Axpy does.
func axpySeqGeneric(y, p, v []float32, ldv int) {
	for j, pj := range p {
		if pj != 0 {
			axpy(pj, v[j*ldv:j*ldv+len(y)], y)
		}
	}
}
