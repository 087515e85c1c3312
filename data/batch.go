package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
)

// BatchOptions shapes the batches an Iterator yields.
type BatchOptions struct {
	BatchSize int // B: rows per batch
	// SeqLen is T, the input positions per row. A row holds up to T+1
	// tokens: its first T are the inputs and its last T the targets, so a
	// longer example is truncated to its first T+1 tokens (counted in
	// BatchStats).
	SeqLen int
	// Pack puts several examples in a row, each starting where the previous
	// one ended; the target that would predict an example's first token from
	// the previous example's last one is masked. Attention still crosses the
	// boundary unless the model uses Batch.Pos; the examples' BOS/EOS tokens
	// tell it where one ends.
	Pack    bool
	PadID   int    // input id of padding positions (their targets are IgnoreIndex)
	Shuffle bool   // a fresh permutation of the examples every epoch
	Seed    uint64 // seeds the permutations: epoch e uses PCG(Seed, e)
}

// Batch is B rows of T positions, row-major.
type Batch struct {
	B, T int
	// IDs are the inputs (B, T); PadID after a row's data.
	IDs []int
	// Targets (B, T) are already shifted: Targets[b*T+t] is the label of the
	// token after position t, and IgnoreIndex where there is no loss
	// (prompts, padding, pack boundaries).
	Targets []int
	// Pos (B, T) is each position's offset in its own example (0 at every
	// example's first token, and at padding), for models that restart
	// positions in packed rows.
	Pos        []int
	Rows       int // rows holding data; rows Rows..B-1 are all padding
	Examples   int // examples in the batch
	LossTokens int // targets that carry loss
	// State is where the iterator stood before this batch: restoring it
	// yields this batch again.
	State IterState
}

// maxNoLossIndex bounds BatchStats.NoLossIndex.
const maxNoLossIndex = 10

// BatchStats describes an Iterator's examples against its T.
type BatchStats struct {
	Examples  int // examples batched
	Truncated int // examples longer than T+1 tokens, cut
	Dropped   int // tokens cut off by that truncation
	NoLoss    int // examples left out: no loss-carrying target within T+1 tokens
	// NoLossIndex holds the indices of the first few of them (at most
	// maxNoLossIndex), so that a log can name them.
	NoLossIndex []int
	// Rows and Batches per epoch, and the fraction of input positions that
	// are padding, for epoch 0 (with Pack and Shuffle they vary a little).
	Rows, Batches int
	PadFraction   float64
}

// IterState is an Iterator's position, JSON-serialisable for checkpoints.
// The permutation of each epoch is a pure function of (Seed, Epoch), so
// (Epoch, Batch) determines the rest of the stream; Fingerprint identifies the
// examples and batch shape so that a state cannot be restored into another
// dataset by mistake.
type IterState struct {
	Epoch       int    `json:"epoch"`
	Batch       int    `json:"batch"` // next batch within the epoch
	Seed        uint64 `json:"seed"`
	Fingerprint string `json:"fingerprint"`
}

// Iterator yields batches forever, epoch after epoch.
type Iterator struct {
	ex       []Example
	eligible []int // indices of the examples that carry loss within T+1 tokens
	opt      BatchOptions
	fp       string
	stats    BatchStats

	epoch, next int
	rows        [][]int // current epoch's plan: example indices per row
}

// NewIterator plans batches over examples (which it does not copy or modify).
func NewIterator(examples []Example, opt BatchOptions) (*Iterator, error) {
	if opt.BatchSize < 1 || opt.SeqLen < 1 {
		return nil, fmt.Errorf("data: batch size %d and sequence length %d must be positive", opt.BatchSize, opt.SeqLen)
	}
	it := &Iterator{ex: examples, opt: opt}
	capT := opt.SeqLen + 1
	for i, e := range examples {
		if len(e.Tokens) != len(e.Labels) {
			return nil, fmt.Errorf("data: example %d has %d tokens but %d labels", i, len(e.Tokens), len(e.Labels))
		}
		n := len(e.Tokens)
		if n > capT {
			it.stats.Truncated++
			it.stats.Dropped += n - capT
			n = capT
		}
		if (Example{Tokens: e.Tokens[:n], Labels: e.Labels[:n]}).LossTokens() == 0 {
			it.stats.NoLoss++
			if len(it.stats.NoLossIndex) < maxNoLossIndex {
				it.stats.NoLossIndex = append(it.stats.NoLossIndex, i)
			}
			continue
		}
		it.eligible = append(it.eligible, i)
	}
	it.stats.Examples = len(it.eligible)
	if len(it.eligible) == 0 {
		return nil, errors.New("data: no example carries loss within the sequence length")
	}
	it.fp = fingerprint(examples, opt)
	it.plan(0)
	it.stats.Rows = len(it.rows)
	it.stats.Batches = it.batches()
	used := 0
	for _, r := range it.rows {
		used += it.rowLen(r) - 1
	}
	total := it.stats.Batches * opt.BatchSize * opt.SeqLen
	it.stats.PadFraction = float64(total-used) / float64(total)
	return it, nil
}

// Stats describes the examples against T (and epoch 0's packing).
func (it *Iterator) Stats() BatchStats { return it.stats }

// State is the position of the next batch.
func (it *Iterator) State() IterState {
	return IterState{Epoch: it.epoch, Batch: it.next, Seed: it.opt.Seed, Fingerprint: it.fp}
}

// Restore moves the iterator to s, which must come from an iterator over the
// same examples with the same BatchOptions.
func (it *Iterator) Restore(s IterState) error {
	if s.Fingerprint != it.fp || s.Seed != it.opt.Seed {
		return errors.New("data: iterator state is from other examples or batch options (dataset, seq len, batch size, packing, shuffle or seed changed)")
	}
	if s.Epoch < 0 || s.Batch < 0 {
		return fmt.Errorf("data: iterator state epoch %d batch %d is negative", s.Epoch, s.Batch)
	}
	it.plan(s.Epoch)
	if s.Batch > it.batches() {
		return fmt.Errorf("data: iterator state batch %d is past epoch %d's %d batches", s.Batch, s.Epoch, it.batches())
	}
	it.next = s.Batch
	return nil
}

// Epoch returns the epoch of the next batch.
func (it *Iterator) Epoch() int {
	if it.next >= it.batches() {
		return it.epoch + 1
	}
	return it.epoch
}

// Next returns the next batch, starting a new epoch when one ends.
func (it *Iterator) Next() Batch {
	if it.next >= it.batches() {
		it.plan(it.epoch + 1)
	}
	st := it.State()
	B, T := it.opt.BatchSize, it.opt.SeqLen
	rows := it.rows[it.next*B : min((it.next+1)*B, len(it.rows))]
	it.next++
	b := Batch{B: B, T: T, IDs: make([]int, B*T), Targets: make([]int, B*T), Pos: make([]int, B*T), Rows: len(rows), State: st}
	for r := range B {
		ids, tg, pos := b.IDs[r*T:(r+1)*T], b.Targets[r*T:(r+1)*T], b.Pos[r*T:(r+1)*T]
		t := 0 // tokens of the row written so far (the row's token t is input t and target t-1)
		if r < len(rows) {
			for _, ei := range rows[r] {
				e := it.ex[ei]
				n := min(len(e.Tokens), T+1)
				for j := range n {
					if t < T {
						ids[t] = e.Tokens[j]
						pos[t] = j
					}
					if t > 0 {
						if j == 0 {
							tg[t-1] = IgnoreIndex // never predict across a pack boundary
						} else {
							tg[t-1] = e.Labels[j]
						}
					}
					t++
				}
				b.Examples++
			}
		}
		if t > 0 {
			t-- // the row's last token is a target only
		}
		for ; t < T; t++ {
			ids[t], tg[t], pos[t] = it.opt.PadID, IgnoreIndex, 0
		}
	}
	for _, v := range b.Targets {
		if v != IgnoreIndex {
			b.LossTokens++
		}
	}
	return b
}

// Batches returns one epoch (epoch 0) of batches over examples, e.g. for
// validation.
func Batches(examples []Example, opt BatchOptions) ([]Batch, BatchStats, error) {
	it, err := NewIterator(examples, opt)
	if err != nil {
		return nil, BatchStats{}, err
	}
	out := make([]Batch, 0, it.batches())
	for it.Epoch() == 0 {
		out = append(out, it.Next())
	}
	return out, it.stats, nil
}

func (it *Iterator) batches() int {
	return (len(it.rows) + it.opt.BatchSize - 1) / it.opt.BatchSize
}

func (it *Iterator) rowLen(row []int) int {
	n := 0
	for _, ei := range row {
		n += min(len(it.ex[ei].Tokens), it.opt.SeqLen+1)
	}
	return n
}

// packWindow is how many partly filled rows packing keeps open: first fit
// over a few rows fills them much better than next fit, at O(window) per
// example, and keeps rows close to the epoch's order.
const packWindow = 16

// plan lays out epoch e: the example order, then the rows.
func (it *Iterator) plan(e int) {
	it.epoch, it.next = e, 0
	order := append([]int(nil), it.eligible...)
	if it.opt.Shuffle {
		shuffle(order, rand.NewPCG(it.opt.Seed, uint64(e)))
	}
	it.rows = it.rows[:0]
	if !it.opt.Pack {
		for _, ei := range order {
			it.rows = append(it.rows, []int{ei})
		}
		return
	}
	capT := it.opt.SeqLen + 1
	type open struct{ row, free int }
	var win []open
	for _, ei := range order {
		n := min(len(it.ex[ei].Tokens), capT)
		placed := false
		for k := range win {
			if win[k].free >= n {
				it.rows[win[k].row] = append(it.rows[win[k].row], ei)
				win[k].free -= n
				placed = true
				if win[k].free < 2 { // no room for a token and its target
					win = append(win[:k], win[k+1:]...)
				}
				break
			}
		}
		if placed {
			continue
		}
		it.rows = append(it.rows, []int{ei})
		if capT-n >= 2 {
			win = append(win, open{len(it.rows) - 1, capT - n})
			if len(win) > packWindow {
				win = win[1:]
			}
		}
	}
}

// shuffle is Fisher-Yates driven by PCG with Lemire's bounded draw, written
// out rather than rand.Shuffle so that a checkpoint's order cannot change
// with the Go release: PCG's output is specified, Shuffle's use of it is not.
func shuffle(s []int, src *rand.PCG) {
	for i := len(s) - 1; i > 0; i-- {
		j := int(boundedUint64(src, uint64(i+1)))
		s[i], s[j] = s[j], s[i]
	}
}

// boundedUint64 draws uniformly from [0, n) (Lemire 2019, unbiased).
func boundedUint64(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// fingerprint hashes the examples and the options that shape the stream.
func fingerprint(examples []Example, opt BatchOptions) string {
	h := fnv.New64a()
	var buf [8]byte
	put := func(v int) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	put(len(examples))
	for _, e := range examples {
		put(len(e.Tokens))
		for _, v := range e.Tokens {
			put(v)
		}
		for _, v := range e.Labels {
			put(v)
		}
	}
	put(opt.BatchSize)
	put(opt.SeqLen)
	put(opt.PadID)
	if opt.Pack {
		put(1)
	} else {
		put(0)
	}
	if opt.Shuffle {
		put(1)
	} else {
		put(0)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}
