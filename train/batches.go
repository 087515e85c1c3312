package train

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// IgnoreIndex marks a target position that carries no loss (prompt tokens,
// padding), as in PyTorch's cross-entropy.
const IgnoreIndex = -100

// Batch is one micro-batch of B rows of T tokens, row-major. Targets are
// already shifted (Targets[i] is the token that should follow IDs[i]) and
// IgnoreIndex marks positions without loss.
type Batch struct {
	IDs, Targets []int
	B, T         int
}

// Tokens is the number of loss-bearing targets.
func (b Batch) Tokens() int {
	n := 0
	for _, t := range b.Targets {
		if t != IgnoreIndex {
			n++
		}
	}
	return n
}

// Batches is the training stream: an endless, deterministic sequence of
// micro-batches whose position can be saved and restored exactly.
type Batches interface {
	Next() (Batch, error)
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

// Example is one training sequence: ids and their shifted targets, of equal
// length.
type Example struct {
	IDs, Targets []int
}

// ShuffledBatches cycles over fixed examples in a new random order every
// epoch (a fresh permutation from a seeded PCG), B per batch, each row cut
// or padded to T (padding targets are IgnoreIndex). Its state is the epoch,
// the position in it and the PCG, so restoring is exact.
type ShuffledBatches struct {
	examples []Example
	b, t     int
	pad      int
	rng      *rand.PCG
	perm     []int
	epoch    int
	pos      int
}

// NewShuffledBatches returns a stream over examples; pad is the id used for
// padding inputs. It fails if there are no examples.
func NewShuffledBatches(examples []Example, b, t, pad int, seed uint64) (*ShuffledBatches, error) {
	if len(examples) == 0 {
		return nil, fmt.Errorf("train: no training examples")
	}
	for i, e := range examples {
		if len(e.IDs) != len(e.Targets) {
			return nil, fmt.Errorf("train: example %d has %d ids but %d targets", i, len(e.IDs), len(e.Targets))
		}
	}
	s := &ShuffledBatches{examples: examples, b: b, t: t, pad: pad, rng: rand.NewPCG(seed, 0x9e3779b97f4a7c15)}
	s.shuffle()
	return s, nil
}

func (s *ShuffledBatches) shuffle() {
	r := rand.New(s.rng)
	s.perm = r.Perm(len(s.examples))
	s.pos = 0
}

// BatchesPerEpoch is ceil(examples / B).
func (s *ShuffledBatches) BatchesPerEpoch() int { return (len(s.examples) + s.b - 1) / s.b }

// Next returns the next batch; an epoch's last batch is filled from the next
// epoch so every batch has B rows.
func (s *ShuffledBatches) Next() (Batch, error) {
	bt := Batch{IDs: make([]int, s.b*s.t), Targets: make([]int, s.b*s.t), B: s.b, T: s.t}
	for r := 0; r < s.b; r++ {
		if s.pos == len(s.perm) {
			s.epoch++
			s.shuffle()
		}
		e := s.examples[s.perm[s.pos]]
		s.pos++
		ids, tg := bt.IDs[r*s.t:(r+1)*s.t], bt.Targets[r*s.t:(r+1)*s.t]
		n := copy(ids, e.IDs)
		copy(tg, e.Targets)
		for j := n; j < s.t; j++ {
			ids[j], tg[j] = s.pad, IgnoreIndex
		}
	}
	return bt, nil
}

type shuffledState struct {
	Epoch int    `json:"epoch"`
	Pos   int    `json:"pos"`
	Perm  []int  `json:"perm"`
	RNG   []byte `json:"rng"`
}

// State snapshots the epoch, position, current order and PCG.
func (s *ShuffledBatches) State() ([]byte, error) {
	rng, err := s.rng.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(shuffledState{Epoch: s.epoch, Pos: s.pos, Perm: s.perm, RNG: rng})
}

// Restore returns to a State snapshot.
func (s *ShuffledBatches) Restore(state []byte) error {
	var st shuffledState
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("train: data state: %w", err)
	}
	if len(st.Perm) != len(s.examples) || st.Pos < 0 || st.Pos > len(st.Perm) {
		return fmt.Errorf("train: data state is for %d examples at %d, this data has %d", len(st.Perm), st.Pos, len(s.examples))
	}
	if err := s.rng.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("train: data state: %w", err)
	}
	s.epoch, s.pos, s.perm = st.Epoch, st.Pos, st.Perm
	return nil
}

// Epoch is the number of completed passes plus the fraction of this one.
func (s *ShuffledBatches) Epoch() float64 {
	return float64(s.epoch) + float64(s.pos)/float64(len(s.examples))
}
