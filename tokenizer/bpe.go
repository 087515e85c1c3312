package tokenizer

// bpe applies byte-pair merges to a sequence of symbol ids. Merges are keyed
// by the pair of ids; the pair with the lowest rank merges first and, among
// equal ranks (the same pair at several places), the leftmost one. That is the
// order of HF tokenizers' BPE (a heap of (rank, position)), of the original
// GPT-2 encoder (all occurrences of the best pair, left to right) and of
// llama2.c run.c (the best-scoring pair, first found), so one routine serves
// all three once scores are turned into ranks.
type bpe struct {
	merges map[uint64]merge
}

// merge is the result of merging a pair: the rank of the merge (lower first)
// and the id of the merged symbol.
type merge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// heapMin is the word length from which the heap version is used; below it
// the quadratic scan is faster (no allocation, words are short).
const heapMin = 48

// apply merges ids in place and returns the merged prefix of ids.
func (m *bpe) apply(ids []int32) []int32 {
	if len(ids) < 2 {
		return ids
	}
	if len(ids) < heapMin {
		return m.applyScan(ids)
	}
	return m.applyHeap(ids)
}

// applyScan finds the best pair by a linear scan, merges it, and repeats:
// O(n²) but allocation-free, the reference the heap version is tested against.
func (m *bpe) applyScan(ids []int32) []int32 {
	for len(ids) > 1 {
		best := merge{rank: -1}
		at := -1
		for i := 0; i+1 < len(ids); i++ {
			if r, ok := m.merges[pairKey(ids[i], ids[i+1])]; ok && (at < 0 || r.rank < best.rank) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		ids[at] = best.id
		copy(ids[at+1:], ids[at+2:])
		ids = ids[:len(ids)-1]
	}
	return ids
}

// cand is a candidate merge of the symbol at pos with its right neighbour.
type cand struct {
	rank  int32
	pos   int32
	left  int32 // ids at push time, to detect stale entries
	right int32
	id    int32
}

func candLess(a, b cand) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

// applyHeap keeps the symbols in a doubly linked list over the original
// positions and candidate merges in a binary heap ordered by (rank, pos). A
// popped candidate is stale when either symbol has changed since it was
// pushed; ids only grow by merging, so comparing ids is enough.
func (m *bpe) applyHeap(ids []int32) []int32 {
	n := len(ids)
	prev := make([]int32, n)
	next := make([]int32, n)
	for i := range ids {
		prev[i] = int32(i - 1)
		next[i] = int32(i + 1)
	}
	next[n-1] = -1
	h := make([]cand, 0, n)
	push := func(c cand) {
		h = append(h, c)
		i := len(h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !candLess(h[i], h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
	}
	pop := func() cand {
		top := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		i := 0
		for {
			l, r, s := 2*i+1, 2*i+2, i
			if l < len(h) && candLess(h[l], h[s]) {
				s = l
			}
			if r < len(h) && candLess(h[r], h[s]) {
				s = r
			}
			if s == i {
				break
			}
			h[i], h[s] = h[s], h[i]
			i = s
		}
		return top
	}
	try := func(i int32) {
		if i < 0 || next[i] < 0 {
			return
		}
		j := next[i]
		if r, ok := m.merges[pairKey(ids[i], ids[j])]; ok {
			push(cand{rank: r.rank, pos: i, left: ids[i], right: ids[j], id: r.id})
		}
	}
	for i := 0; i+1 < n; i++ {
		try(int32(i))
	}
	const dead = -2
	for len(h) > 0 {
		c := pop()
		i := c.pos
		j := next[i]
		if prev[i] == dead || j < 0 || ids[i] != c.left || ids[j] != c.right {
			continue
		}
		ids[i] = c.id
		k := next[j]
		next[i] = k
		if k >= 0 {
			prev[k] = i
		}
		prev[j] = dead
		if p := prev[i]; p >= 0 {
			try(p)
		}
		try(i)
	}
	out := ids[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, ids[i])
	}
	return out
}
