package nn

import "strconv"

// EmbeddingForward gathers out[i] = table[ids[i]] for the N = len(ids)
// rows of out (N, C) from table (V, C). An id outside [0, V) panics: callers
// validate ids coming from users.
func EmbeddingForward(out []float32, ids []int, table []float32, C int) {
	checkLen("EmbeddingForward: out", out, len(ids)*C)
	V := len(table) / C
	for i, id := range ids {
		checkID("EmbeddingForward", id, V)
		copy(out[i*C:(i+1)*C], table[id*C:(id+1)*C])
	}
}

// EmbeddingBackward scatter-adds dtable[ids[i]] += dout[i]; repeated ids
// accumulate.
func EmbeddingBackward(dtable []float32, ids []int, dout []float32, C int) {
	checkLen("EmbeddingBackward: dout", dout, len(ids)*C)
	V := len(dtable) / C
	for i, id := range ids {
		checkID("EmbeddingBackward", id, V)
		d := dtable[id*C : (id+1)*C]
		for j, g := range dout[i*C : (i+1)*C] {
			d[j] += g
		}
	}
}

func checkID(op string, id, V int) {
	if id < 0 || id >= V {
		panic("nn: " + op + ": id " + strconv.Itoa(id) + " outside table of " + strconv.Itoa(V) + " rows")
	}
}

// EmbeddingDelta is a trainable change to a frozen token embedding: LoRA on
// the embedding, a trained copy of the whole table (PEFT's modules_to_save)
// or trained rows of chosen tokens (PEFT's trainable tokens). Like Delta for
// Linear, it is the only hook the model offers, so model families never
// import the lora package.
type EmbeddingDelta interface {
	// Forward is called with x [n, C] holding table[ids[i]]; the delta
	// adds to or replaces rows in place.
	Forward(ids []int, x []float32)
	// Backward accumulates the delta's own gradients from dx [n, C], the
	// gradient of the embedding output.
	Backward(ids []int, dx []float32)
}
