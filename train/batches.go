package train

import "github.com/golora/golora/data"

// Batches is the training stream: an endless, deterministic sequence of
// micro-batches (data.Batch, with Targets already shifted and LossTokens
// set) whose position can be saved and restored exactly. Setup's stream
// wraps a data.Iterator (IteratorBatches).
type Batches interface {
	Next() (data.Batch, error)
	// State is an opaque snapshot (JSON) of the position in the stream.
	State() ([]byte, error)
	// Restore returns the stream to a State snapshot.
	Restore(state []byte) error
}

// Epocher is implemented by streams that know their epoch length, which
// --epochs needs.
type Epocher interface {
	BatchesPerEpoch() int
}
