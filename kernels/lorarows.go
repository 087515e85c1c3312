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

// loraRowGeneric is LoRARows for one row: the Dot and Axpy calls it
// stands for, one by one.
func loraRowGeneric(y, x []float32, a *LoRA) {
	in, out := len(x), len(y)
	for j := range a.R {
		if alpha := a.Scale * dot(x, a.A[j*in:(j+1)*in]); alpha != 0 {
			axpy(alpha, a.BT[j*out:(j+1)*out], y)
		}
	}
}
