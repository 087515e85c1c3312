package data

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// randomExamples makes n examples of 2..maxLen tokens, each with a random
// prompt prefix that carries no loss; token ids encode (example, position) so
// a batch can be traced back to its examples.
func randomExamples(n, maxLen int, seed uint64) []Example {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]Example, n)
	for i := range out {
		L := 2 + r.IntN(maxLen-1)
		p := r.IntN(L - 1) // at least the last token carries loss
		e := Example{Tokens: make([]int, L), Labels: make([]int, L)}
		for t := range L {
			e.Tokens[t] = i*1000 + t
			e.Labels[t] = e.Tokens[t]
			if t <= p {
				e.Labels[t] = IgnoreIndex
			}
		}
		out[i] = e
	}
	return out
}

// pairs lists every (input, target) pair that carries loss in one epoch, as
// the examples define them (input token t, target label t+1, within T+1).
func wantPairs(examples []Example, T int) [][2]int {
	var out [][2]int
	for _, e := range examples {
		n := min(len(e.Tokens), T+1)
		for t := 0; t+1 < n; t++ {
			if e.Labels[t+1] != IgnoreIndex {
				out = append(out, [2]int{e.Tokens[t], e.Labels[t+1]})
			}
		}
	}
	return out
}

func gotPairs(t *testing.T, batches []Batch, pad int) (pairs [][2]int, examples int) {
	t.Helper()
	for _, b := range batches {
		if len(b.IDs) != b.B*b.T || len(b.Targets) != b.B*b.T || len(b.Pos) != b.B*b.T {
			t.Fatalf("batch buffers %d %d %d, want %d", len(b.IDs), len(b.Targets), len(b.Pos), b.B*b.T)
		}
		n := 0
		for i, id := range b.IDs {
			if b.Targets[i] != IgnoreIndex {
				pairs = append(pairs, [2]int{id, b.Targets[i]})
				n++
			}
			if id == pad && b.Targets[i] != IgnoreIndex {
				t.Fatalf("padding position %d has target %d", i, b.Targets[i])
			}
			// Positions follow the token ids' encoding of (example, offset).
			if id != pad && b.Pos[i] != id%1000 {
				t.Fatalf("position %d: pos %d for token %d", i, b.Pos[i], id)
			}
		}
		for r := b.Rows; r < b.B; r++ {
			for _, v := range b.Targets[r*b.T : (r+1)*b.T] {
				if v != IgnoreIndex {
					t.Fatalf("padding row %d carries loss", r)
				}
			}
		}
		if n != b.LossTokens {
			t.Fatalf("LossTokens %d, counted %d", b.LossTokens, n)
		}
		examples += b.Examples
	}
	return pairs, examples
}

func sortPairs(p [][2]int) [][2]int {
	slices.SortFunc(p, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	return p
}

func TestBatchesShiftAndPad(t *testing.T) {
	// Hand-checked: one example of 4 tokens, loss on the last two, T = 5.
	ex := []Example{{Tokens: []int{1, 2, 3, 4}, Labels: []int{IgnoreIndex, IgnoreIndex, 3, 4}}}
	bs, st, err := Batches(ex, BatchOptions{BatchSize: 2, SeqLen: 5, PadID: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || st.Rows != 1 || st.Batches != 1 {
		t.Fatalf("%d batches, stats %+v", len(bs), st)
	}
	b := bs[0]
	I := IgnoreIndex
	wantIDs := []int{1, 2, 3, 0, 0, 0, 0, 0, 0, 0}
	wantTg := []int{I, 3, 4, I, I, I, I, I, I, I}
	if !reflect.DeepEqual(b.IDs, wantIDs) || !reflect.DeepEqual(b.Targets, wantTg) {
		t.Errorf("ids %v targets %v\nwant %v %v", b.IDs, b.Targets, wantIDs, wantTg)
	}
	if b.Rows != 1 || b.Examples != 1 || b.LossTokens != 2 {
		t.Errorf("rows %d examples %d loss %d", b.Rows, b.Examples, b.LossTokens)
	}
	if want := 1 - 3.0/10; st.PadFraction != want {
		t.Errorf("PadFraction %v, want %v", st.PadFraction, want)
	}

	// Packed: the second example's first token is never a target of the first's last.
	ex = append(ex, Example{Tokens: []int{5, 6, 7}, Labels: []int{5, 6, 7}})
	bs, _, err = Batches(ex, BatchOptions{BatchSize: 1, SeqLen: 8, Pack: true, PadID: 0})
	if err != nil {
		t.Fatal(err)
	}
	b = bs[0]
	wantIDs = []int{1, 2, 3, 4, 5, 6, 0, 0}
	wantTg = []int{I, 3, 4, I, 6, 7, I, I}
	wantPos := []int{0, 1, 2, 3, 0, 1, 0, 0}
	if !reflect.DeepEqual(b.IDs, wantIDs) || !reflect.DeepEqual(b.Targets, wantTg) || !reflect.DeepEqual(b.Pos, wantPos) {
		t.Errorf("packed ids %v targets %v pos %v\nwant %v %v %v", b.IDs, b.Targets, b.Pos, wantIDs, wantTg, wantPos)
	}
}

func TestBatchesCoverEveryTarget(t *testing.T) {
	examples := randomExamples(300, 40, 7)
	tests := []struct {
		name string
		opt  BatchOptions
	}{
		{"one per row", BatchOptions{BatchSize: 4, SeqLen: 64, PadID: -1}},
		{"one per row truncating", BatchOptions{BatchSize: 3, SeqLen: 16, PadID: -1}},
		{"packed", BatchOptions{BatchSize: 4, SeqLen: 64, Pack: true, PadID: -1}},
		{"packed shuffled", BatchOptions{BatchSize: 5, SeqLen: 50, Pack: true, Shuffle: true, Seed: 3, PadID: -1}},
		{"packed truncating", BatchOptions{BatchSize: 2, SeqLen: 12, Pack: true, Shuffle: true, PadID: -1}},
		{"T=1", BatchOptions{BatchSize: 8, SeqLen: 1, PadID: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs, st, err := Batches(examples, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			want := wantPairs(examples, tc.opt.SeqLen)
			got, n := gotPairs(t, bs, tc.opt.PadID)
			if n != st.Examples || st.Examples+st.NoLoss != len(examples) {
				t.Errorf("%d examples batched, stats %+v, %d given", n, st, len(examples))
			}
			if !reflect.DeepEqual(sortPairs(got), sortPairs(want)) {
				t.Errorf("%d loss targets, want %d (or they differ)", len(got), len(want))
			}
			truncated, dropped := 0, 0
			for _, e := range examples {
				if d := len(e.Tokens) - (tc.opt.SeqLen + 1); d > 0 {
					truncated++
					dropped += d
				}
			}
			if st.Truncated != truncated || st.Dropped != dropped {
				t.Errorf("truncated %d/%d, want %d/%d", st.Truncated, st.Dropped, truncated, dropped)
			}
			if len(bs) != st.Batches {
				t.Errorf("%d batches, stats say %d", len(bs), st.Batches)
			}
		})
	}
	// Packing must beat one example per row.
	_, one, _ := Batches(examples, BatchOptions{BatchSize: 4, SeqLen: 64})
	_, packed, _ := Batches(examples, BatchOptions{BatchSize: 4, SeqLen: 64, Pack: true, Shuffle: true})
	if packed.Rows*2 > one.Rows || packed.PadFraction > 0.1 {
		t.Errorf("packing: %d rows (pad %.2f), unpacked %d rows (pad %.2f)", packed.Rows, packed.PadFraction, one.Rows, one.PadFraction)
	}
	t.Logf("rows unpacked %d (pad %.3f), packed %d (pad %.3f)", one.Rows, one.PadFraction, packed.Rows, packed.PadFraction)
}

func TestIteratorShuffleDeterminism(t *testing.T) {
	examples := randomExamples(50, 10, 1)
	order := func(seed uint64, epochs int) [][]int {
		it, err := NewIterator(examples, BatchOptions{BatchSize: 50, SeqLen: 16, Shuffle: true, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var out [][]int
		for range epochs {
			b := it.Next()
			var firsts []int
			for r := range b.Rows {
				firsts = append(firsts, b.IDs[r*b.T]/1000)
			}
			out = append(out, firsts)
		}
		return out
	}
	a, b, c := order(42, 3), order(42, 3), order(43, 3)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different orders")
	}
	if reflect.DeepEqual(a[0], c[0]) {
		t.Error("different seeds, same order")
	}
	if reflect.DeepEqual(a[0], a[1]) {
		t.Error("epochs 0 and 1 have the same order")
	}
	for e, o := range a {
		s := slices.Sorted(slices.Values(o))
		for i, v := range s {
			if v != i {
				t.Fatalf("epoch %d is not a permutation: %v", e, o)
			}
		}
	}
}

func TestIteratorResume(t *testing.T) {
	examples := randomExamples(37, 30, 5)
	for _, opt := range []BatchOptions{
		{BatchSize: 3, SeqLen: 32, Shuffle: true, Seed: 9},
		{BatchSize: 2, SeqLen: 40, Pack: true, Shuffle: true, Seed: 9},
		{BatchSize: 4, SeqLen: 8},
	} {
		ref, err := NewIterator(examples, opt)
		if err != nil {
			t.Fatal(err)
		}
		var stream []Batch
		for range 3 * ref.Stats().Batches { // three epochs and more
			stream = append(stream, ref.Next())
		}
		for _, k := range []int{0, 1, ref.Stats().Batches - 1, ref.Stats().Batches, len(stream) - 2} {
			it, _ := NewIterator(examples, opt)
			for range k {
				it.Next()
			}
			js, err := json.Marshal(it.State())
			if err != nil {
				t.Fatal(err)
			}
			var st IterState
			if err := json.Unmarshal(js, &st); err != nil {
				t.Fatal(err)
			}
			fresh, _ := NewIterator(examples, opt)
			if err := fresh.Restore(st); err != nil {
				t.Fatal(err)
			}
			for i := k; i < len(stream); i++ {
				if got := fresh.Next(); !reflect.DeepEqual(got, stream[i]) {
					t.Fatalf("%+v: resumed at %d (%s), batch %d differs", opt, k, js, i)
				}
			}
			// A batch's own State restores to that batch.
			again, _ := NewIterator(examples, opt)
			if err := again.Restore(stream[k].State); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again.Next(), stream[k]) {
				t.Fatalf("Batch.State of batch %d does not reproduce it", k)
			}
		}
	}

	// A state from other data or settings is refused.
	it, _ := NewIterator(examples, BatchOptions{BatchSize: 3, SeqLen: 32})
	st := it.State()
	other, _ := NewIterator(examples[1:], BatchOptions{BatchSize: 3, SeqLen: 32})
	if err := other.Restore(st); err == nil {
		t.Error("restored a state from other examples")
	}
	other, _ = NewIterator(examples, BatchOptions{BatchSize: 3, SeqLen: 33})
	if err := other.Restore(st); err == nil {
		t.Error("restored a state from another sequence length")
	}
	st.Batch = 1 << 20
	if err := it.Restore(st); err == nil {
		t.Error("restored a batch past the epoch")
	}
}

func TestIteratorErrors(t *testing.T) {
	if _, err := NewIterator(randomExamples(3, 5, 1), BatchOptions{BatchSize: 0, SeqLen: 4}); err == nil {
		t.Error("batch size 0 accepted")
	}
	noLoss := []Example{{Tokens: []int{1, 2}, Labels: []int{IgnoreIndex, IgnoreIndex}}}
	if _, err := NewIterator(noLoss, BatchOptions{BatchSize: 1, SeqLen: 4}); err == nil {
		t.Error("examples without loss accepted")
	}
	bad := []Example{{Tokens: []int{1, 2}, Labels: []int{1}}}
	if _, err := NewIterator(bad, BatchOptions{BatchSize: 1, SeqLen: 4}); err == nil {
		t.Error("mismatched labels accepted")
	}
}

func TestSplit(t *testing.T) {
	ds := &Dataset{Name: "t", Examples: randomExamples(101, 5, 2)}
	tests := []struct {
		fraction  float64
		wantValid int
		wantErr   bool
	}{
		{0, 0, false}, {0.1, 10, false}, {0.5, 51, false}, {0.001, 1, false}, {0.999, 0, true}, {1, 0, true}, {-0.1, 0, true},
	}
	for _, tc := range tests {
		tr, va, err := ds.Split(tc.fraction, 7)
		if tc.wantErr {
			if err == nil {
				t.Errorf("fraction %v: no error", tc.fraction)
			}
			continue
		}
		if err != nil {
			t.Fatalf("fraction %v: %v", tc.fraction, err)
		}
		if va.Len() != tc.wantValid || tr.Len()+va.Len() != ds.Len() {
			t.Errorf("fraction %v: %d train, %d valid", tc.fraction, tr.Len(), va.Len())
		}
		// Disjoint, complete, in file order (first token ids encode the index).
		var all []int
		for _, part := range []*Dataset{tr, va} {
			prev := -1
			for _, e := range part.Examples {
				i := e.Tokens[0] / 1000
				if i <= prev {
					t.Fatalf("fraction %v: not in file order", tc.fraction)
				}
				prev = i
				all = append(all, i)
			}
		}
		slices.Sort(all)
		for i, v := range all {
			if v != i {
				t.Fatalf("fraction %v: split loses or repeats examples", tc.fraction)
			}
		}
		_, va2, _ := ds.Split(tc.fraction, 7)
		if !reflect.DeepEqual(va, va2) {
			t.Errorf("fraction %v: same seed, different split", tc.fraction)
		}
	}
	_, a, _ := ds.Split(0.2, 1)
	_, b, _ := ds.Split(0.2, 2)
	if reflect.DeepEqual(a.Examples, b.Examples) {
		t.Error("seeds 1 and 2 give the same split")
	}
}

// The shuffle is our own Fisher-Yates over PCG so that checkpoints survive Go
// upgrades; pin its output so a change to it is noticed.
func TestShufflePinned(t *testing.T) {
	s := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	shuffle(s, rand.NewPCG(1, 2))
	got := append([]int(nil), s...)
	s = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	shuffle(s, rand.NewPCG(1, 2))
	if !reflect.DeepEqual(got, s) {
		t.Fatal("shuffle is not deterministic")
	}
	if want := []int{2, 4, 3, 9, 0, 1, 8, 6, 5, 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("shuffle changed: %v, pinned %v (resumed runs would see another order)", got, want)
	}
}
