package model

// A slot cache is a Cache whose rows own their memory: a server allocates a
// row when a request starts, sized to that request's prompt and token
// limit, and frees it when the request ends, so KV memory follows the
// requests instead of being B × capacity up front.
type slots struct {
	caps []int
	k, v [][][]float32 // [row][layer] (cap, KVD)
	kvd  int
	nl   int // layers
}

// NewSlotCache returns a cache of B rows that hold no memory until Alloc.
func (m *Transformer) NewSlotCache(B int) *Cache {
	m.packForDecode()
	c := m.cfg
	return &Cache{B: B, lens: make([]int, B), slots: &slots{
		caps: make([]int, B),
		k:    make([][][]float32, B),
		v:    make([][][]float32, B),
		kvd:  c.NumKeyValueHeads * c.HeadDim,
		nl:   c.NumHiddenLayers,
	}}
}

// KVBytesPerToken is the memory one cached token takes (keys and values of
// every layer, float32).
func (m *Transformer) KVBytesPerToken() int {
	c := m.cfg
	return 2 * 4 * c.NumHiddenLayers * c.NumKeyValueHeads * c.HeadDim
}

// Alloc gives row b of a slot cache room for capacity tokens and empties
// it; Free releases the memory. On a cache from NewCache both panic.
func (c *Cache) Alloc(b, capacity int) {
	s := c.slots
	s.caps[b] = capacity
	s.k[b] = make([][]float32, s.nl)
	s.v[b] = make([][]float32, s.nl)
	for l := range s.k[b] {
		s.k[b][l] = make([]float32, capacity*s.kvd)
		s.v[b][l] = make([]float32, capacity*s.kvd)
	}
	c.lens[b] = 0
}

// Free releases row b's memory (its capacity becomes 0).
func (c *Cache) Free(b int) {
	s := c.slots
	s.caps[b], s.k[b], s.v[b], c.lens[b] = 0, nil, nil, 0
}

// RowCap is row b's capacity in tokens.
func (c *Cache) RowCap(b int) int { return c.rowCap(b) }

func (c *Cache) rowCap(b int) int {
	if c.slots != nil {
		return c.slots.caps[b]
	}
	return c.Cap
}

func (c *Cache) rowKV(l, b, KVD int) (k, v []float32) {
	if s := c.slots; s != nil {
		return s.k[b][l], s.v[b][l]
	}
	return c.k[l][b*c.Cap*KVD : (b+1)*c.Cap*KVD], c.v[l][b*c.Cap*KVD : (b+1)*c.Cap*KVD]
}
