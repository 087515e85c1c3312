package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// splitStream is the PCG stream of Split, apart from the epoch streams
// (0, 1, 2, ...) so that the held-out set is not the first epoch's prefix.
const splitStream = 0x73706c6974 // "split"

// Split holds out round(fraction·n) examples (at least one when fraction > 0)
// chosen by a permutation seeded with seed, as a validation set. Both parts
// keep file order, and the same (examples, fraction, seed) always gives the
// same split. fraction must be in [0, 1) and leave at least one training
// example. The Examples share their slices with d.
func (d *Dataset) Split(fraction float64, seed uint64) (train, valid *Dataset, err error) {
	n := len(d.Examples)
	if !(fraction >= 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("data: %s: validation fraction %v is not in [0, 1)", d.Name, fraction)
	}
	k := int(math.Round(fraction * float64(n)))
	if fraction > 0 && k == 0 {
		k = 1
	}
	if k >= n && n > 0 || fraction > 0 && n < 2 {
		return nil, nil, fmt.Errorf("data: %s: holding out %v of %d examples leaves none to train on", d.Name, fraction, n)
	}
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	shuffle(perm, rand.NewPCG(seed, splitStream))
	held := make([]bool, n)
	for _, i := range perm[:k] {
		held[i] = true
	}
	train = &Dataset{Name: d.Name, Examples: make([]Example, 0, n-k)}
	valid = &Dataset{Name: d.Name + " (held out)", Examples: make([]Example, 0, k)}
	for i, e := range d.Examples {
		part := train
		if held[i] {
			part = valid
		}
		part.Examples = append(part.Examples, e)
		if len(d.Lines) == n {
			part.Lines = append(part.Lines, d.Lines[i])
		}
	}
	return train, valid, nil
}
