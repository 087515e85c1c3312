package train

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/golora/golora/data"
)

// shiftedSeq is one test sequence: ids and their shifted targets, of equal
// length.
type shiftedSeq struct {
	IDs, Targets []int
}

// ShuffledBatches cycles over fixed examples in a new random order every
// epoch (a fresh permutation from a seeded PCG), B per batch, each row cut
// or padded to T (padding targets are data.IgnoreIndex). Its state is the epoch,
// the position in it and the PCG, so restoring is exact.
type ShuffledBatches struct {
	examples []shiftedSeq
	b, t     int
	pad      int
	rng      *rand.PCG
	perm     []int
	epoch    int
	pos      int
}

// NewShuffledBatches returns a stream over examples; pad is the id used for
// padding inputs. It fails if there are no examples.
func NewShuffledBatches(examples []shiftedSeq, b, t, pad int, seed uint64) (*ShuffledBatches, error) {
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
func (s *ShuffledBatches) Next() (data.Batch, error) {
	bt := data.Batch{IDs: make([]int, s.b*s.t), Targets: make([]int, s.b*s.t), B: s.b, T: s.t}
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
			ids[j], tg[j] = s.pad, data.IgnoreIndex
		}
		for _, x := range tg {
			if x != data.IgnoreIndex {
				bt.LossTokens++
			}
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
