package lora

import (
	"fmt"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
)

// Set is the per-layer state: every adapter on one linear layer, which of
// them are active and merged. It is the layer's nn.Delta. Active adapters
// apply one after the other (PEFT's order), unless Rows routes each row of
// the batch to one adapter (S-LoRA-style serving of several adapters in one
// batch): frozen plain adapters then run as one kernels.LoRARows call per
// layer for all their rows, the others by groups of rows.
type Set struct {
	Module string     // PEFT module name
	Linear *nn.Linear // the frozen layer
	Head   bool       // the output head ("all-linear" skips it)
	Conv1D bool       // stored [in, out] on disk (GPT-2), fan_in_fan_out

	// Rows, when not nil, routes row i of the next Forward and Backward to
	// Active()[Rows[i]]; -1 gives the row the base layer only. It must not
	// change between a forward and its backward.
	Rows []int

	adapters map[string]*Adapter
	order    []string   // adapter names in insertion order
	active   []*Adapter // applied in this order
	merged   []*Adapter // merged into Linear.W, in merge order
	disabled bool

	base  *baseWeights            // the layer's own weights when modules_to_save copies exist
	saved map[string]*savedModule // modules_to_save copies by adapter

	gx, gdy, gdx, dyBase []float32 // routing scratch
	idx                  []int
	groups               [][]int        // Forward's rows by adapter
	busy                 []int          // the adapters with rows
	gxs, gys             [][]float32    // Forward's scratch by adapter
	loras                []kernels.LoRA // the gathered forward's factors by active adapter
	kind                 []uint8        // how the forward applies each active adapter
	route                []int          // its rows' adapters when some go by group
}

func newSet(t Target) *Set {
	return &Set{Module: t.Name, Linear: t.L, Head: t.Head, Conv1D: t.Conv1D, adapters: map[string]*Adapter{}}
}

// Adapter returns the named adapter on this layer, or nil.
func (s *Set) Adapter(name string) *Adapter { return s.adapters[name] }

// Names lists the layer's adapters in the order they were added.
func (s *Set) Names() []string { return append([]string(nil), s.order...) }

// Active returns the adapters applied in the forward, in order; merged
// adapters are part of W and are not listed. The slice must not be changed.
func (s *Set) Active() []*Adapter {
	if len(s.merged) == 0 {
		return s.active
	}
	var out []*Adapter
	for _, a := range s.active {
		if !s.isMerged(a) {
			out = append(out, a)
		}
	}
	return out
}

func (s *Set) isMerged(a *Adapter) bool {
	for _, m := range s.merged {
		if m == a {
			return true
		}
	}
	return false
}

// Forward applies the active adapters to y [n, out] = W0·x.
func (s *Set) Forward(x, y []float32, n int) {
	if s.disabled {
		return
	}
	act := s.Active()
	if s.Rows == nil {
		for _, a := range act {
			a.Forward(x, y, n)
		}
		return
	}
	s.checkRows(n, len(act))
	if !s.forwardGathered(act, x, y, n) {
		return
	}
	in, out := s.Linear.In(), s.Linear.Out()
	s.group(len(act))
	work := 0
	s.busy = s.busy[:0]
	for k, idx := range s.groups[:len(act)] {
		if len(idx) > 0 && s.kind[k] == byGroup {
			work += len(idx) * (in + out)
			s.busy = append(s.busy, k)
		}
	}
	// Each group's rows are its own: groups run side by side when there is
	// enough of them (a serving step with many adapters), each row with the
	// bits it gets alone.
	nw := min(kernels.Threads(), len(s.busy))
	if work < minGroupParallel {
		nw = 1
	}
	kernels.Run(nw, func(w int) {
		for j := w; j < len(s.busy); j += nw {
			k := s.busy[j]
			s.forwardGroup(act[k], k, x, y, n)
		}
	})
}

// How a routed forward applies an active adapter (Set.kind).
const (
	unused   = iota // no row of this step
	gathered        // in forwardGathered's kernel call
	byGroup         // by forwardGroup
)

// gatherable reports whether a's forward is the plain one kernels.LoRARows
// computes, with nothing kept for a backward: a frozen LoRA adapter (no
// variant, no dropout drawn).
func gatherable(a *Adapter) bool {
	return a.Variant == nil && a.DA == nil && a.DB == nil && (!a.Train || a.Dropout == 0)
}

// forwardGathered applies the gatherable adapters to their rows in one
// kernels.LoRARows call over the whole batch (split by rows over the
// workers for a long prompt chunk): a serving step's rows of many
// adapters cost about what they cost on one, instead of a gather, a
// product and a scatter per adapter. It reports whether rows of other
// adapters are left for the group path.
func (s *Set) forwardGathered(act []*Adapter, x, y []float32, n int) (rest bool) {
	in, out := s.Linear.In(), s.Linear.Out()
	// Only the adapters some row uses are looked at: a server holds many
	// more than a step carries.
	for len(s.loras) < len(act) {
		s.loras, s.kind = append(s.loras, kernels.LoRA{}), append(s.kind, 0)
	}
	s.loras, s.kind = s.loras[:len(act)], s.kind[:len(act)]
	clear(s.kind)
	var gather, bias bool
	route := s.Rows[:n]
	for _, k := range route {
		if k < 0 || s.kind[k] != 0 {
			continue
		}
		a := act[k]
		if !gatherable(a) {
			s.kind[k], rest = byGroup, true
			continue
		}
		// Its forward state is that of a forward without dropout: no
		// mask for a backward to apply.
		a.mask, a.pending = a.mask[:0], false
		s.kind[k], s.loras[k] = gathered, kernels.LoRA{A: a.A.Data, BT: a.bT(), R: a.R(), Scale: a.Scaling}
		gather, bias = true, bias || a.Bias != nil
	}
	if !gather {
		return rest
	}
	if rest { // the others' rows get nothing here
		s.route = append(s.route[:0], route...)
		for i, k := range s.route {
			if k >= 0 && s.kind[k] == byGroup {
				s.route[i] = -1
			}
		}
		route = s.route
	}
	// Split like the single adapter's row loops (thin.go): a decode step
	// of the 124M shape, 8 rows on 8 adapters, takes microseconds in one
	// call, less than waking the workers would save; prompt chunks split.
	nw := min(kernels.Threads(), n)
	if n*(in+out) < minParallel || nw == 1 {
		kernels.LoRARows(y, x, n, in, out, route, s.loras)
	} else {
		kernels.Run(nw, func(w int) {
			lo, hi := w*n/nw, (w+1)*n/nw
			kernels.LoRARows(y[lo*out:hi*out], x[lo*in:hi*in], hi-lo, in, out, route[lo:hi], s.loras)
		})
	}
	if bias { // after the product, as Adapter.Forward adds it
		for i, k := range route {
			if k >= 0 && act[k].Bias != nil {
				axpy(y[i*out:(i+1)*out], act[k].Scaling, act[k].Bias.Data)
			}
		}
	}
	return rest
}

// minGroupParallel is the number of streamed values (rows × (in + out) of
// every group) from which Forward spreads routed groups over the workers:
// eight adapters of one decode row each on a 768-wide layer qualify, the
// tiny models of the tests mostly do not.
const minGroupParallel = 1 << 13

// forwardGroup applies adapter a (active index k) to the rows routed to it.
func (s *Set) forwardGroup(a *Adapter, k int, x, y []float32, n int) {
	idx := s.groups[k]
	m := len(idx)
	if m == n {
		a.Forward(x, y, n)
		return
	}
	in, out := s.Linear.In(), s.Linear.Out()
	gx, gy := grow(s.gxs[k], m*in), grow(s.gys[k], m*out)
	s.gxs[k], s.gys[k] = gx, gy
	gatherRows(gx, x, idx, in)
	gatherRows(gy, y, idx, out)
	a.Forward(gx, gy, m)
	scatterRows(y, gy, idx, out)
}

// group sorts the rows into s.groups by active adapter index (nact of
// them), with scratch for each group.
func (s *Set) group(nact int) {
	for len(s.groups) < nact {
		s.groups, s.gxs, s.gys = append(s.groups, nil), append(s.gxs, nil), append(s.gys, nil)
	}
	for k := range s.groups {
		s.groups[k] = s.groups[k][:0]
	}
	for i, k := range s.Rows {
		if k >= 0 {
			s.groups[k] = append(s.groups[k], i)
		}
	}
}

// Backward back-propagates through the active adapters in reverse order and
// returns the gradient of the W0·x path.
func (s *Set) Backward(x, dy, dx []float32, n int) []float32 {
	if s.disabled {
		return dy
	}
	act := s.Active()
	if s.Rows == nil {
		g := dy
		for i := len(act) - 1; i >= 0; i-- {
			g = act[i].Backward(x, g, dx, n)
		}
		return g
	}
	s.checkRows(n, len(act))
	in, out := s.Linear.In(), s.Linear.Out()
	s.dyBase = grow(s.dyBase, n*out)
	copy(s.dyBase, dy[:n*out])
	for k, a := range act {
		m := s.gather(k)
		if m == 0 {
			continue
		}
		if m == n { // every row on one adapter, as in Forward
			copy(s.dyBase, a.Backward(x, dy, dx, n))
			continue
		}
		s.gx, s.gdy = grow(s.gx, m*in), grow(s.gdy, m*out)
		gatherRows(s.gx, x, s.idx, in)
		gatherRows(s.gdy, dy, s.idx, out)
		var gdx []float32
		if dx != nil {
			s.gdx = grow(s.gdx, m*in)
			clear(s.gdx)
			gdx = s.gdx
		}
		g := a.Backward(s.gx, s.gdy, gdx, m)
		scatterRows(s.dyBase, g, s.idx, out)
		if dx != nil {
			for j, i := range s.idx {
				row := dx[i*in : (i+1)*in]
				for c, v := range gdx[j*in : (j+1)*in] {
					row[c] += v
				}
			}
		}
	}
	return s.dyBase[:n*out]
}

func (s *Set) checkRows(n, nact int) {
	if len(s.Rows) < n {
		panic(fmt.Sprintf("lora: %s: Rows has %d entries for %d rows", s.Module, len(s.Rows), n))
	}
	for _, k := range s.Rows[:n] {
		if k < -1 || k >= nact {
			panic(fmt.Sprintf("lora: %s: row routed to adapter %d of %d", s.Module, k, nact))
		}
	}
}

// gather collects the indices of rows routed to adapter k into s.idx.
func (s *Set) gather(k int) int {
	s.idx = s.idx[:0]
	for i, r := range s.Rows {
		if r == k {
			s.idx = append(s.idx, i)
		}
	}
	return len(s.idx)
}

func gatherRows(dst, src []float32, idx []int, w int) {
	for j, i := range idx {
		copy(dst[j*w:(j+1)*w], src[i*w:(i+1)*w])
	}
}

func scatterRows(dst, src []float32, idx []int, w int) {
	for j, i := range idx {
		copy(dst[i*w:(i+1)*w], src[j*w:(j+1)*w])
	}
}
