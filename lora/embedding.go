package lora

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// EmbeddingTarget is the token embedding a model offers for adapters, named
// as PEFT names the module (model.embed_tokens, transformer.wte).
type EmbeddingTarget struct {
	Name string
	W    *tensor.Tensor // (V, C), frozen
	// Tied: the output head reads W too (tie_word_embeddings).
	Tied bool
	// Hook is where the model looks up its nn.EmbeddingDelta.
	Hook *nn.EmbeddingDelta
	// Untie gives a tied head its own copy of W (before a merge changes
	// one side only); nil when the model cannot.
	Untie func()
}

// embAdapter is LoRA on an embedding (PEFT's lora.Embedding): the lookup
// of id gets s·B·A[:, id], A (r, V) = lora_embedding_A, B (C, r) =
// lora_embedding_B; merged, W ← W + s·(B·A)ᵀ. PEFT applies no dropout
// here.
type embAdapter struct {
	Scaling float32
	A, B    *tensor.Tensor
	DA, DB  *tensor.Tensor
}

// tokenRows is PEFT's trainable tokens: rows IDs of a table (V, C) are
// replaced by W (len(IDs), C), which starts as a copy of the originals.
// A tied head shares the embedding's rows.
type tokenRows struct {
	IDs  []int
	W, G *tensor.Tensor
	pos  map[int]int // id -> row of W
}

func newTokenRows(ids []int, table *tensor.Tensor) *tokenRows {
	C := table.Shape[1]
	t := &tokenRows{IDs: slices.Clone(ids), W: tensor.New(len(ids), C), G: tensor.New(len(ids), C), pos: map[int]int{}}
	for j, id := range ids {
		table.CopyRow(t.W.Data[j*C:(j+1)*C], id)
		t.pos[id] = j
	}
	return t
}

// embSet is the per-embedding state, the model's nn.EmbeddingDelta: per
// adapter a LoRA, a modules_to_save copy of the table, or trainable rows.
type embSet struct {
	EmbeddingTarget
	lora   map[string]*embAdapter
	saved  map[string]*savedModule
	tokens map[string]*tokenRows
	active []string // adapters applied, in order
	off    bool
	// rows, when set, names the one adapter ("" none) applied to each
	// activation row (Model.SetRows).
	rows []string
}

// SetEmbedding offers the model's token embedding for adapters (LoRA on
// it, modules_to_save, trainable tokens). Call it before adding adapters.
func (m *Model) SetEmbedding(t EmbeddingTarget) {
	m.emb = &embSet{EmbeddingTarget: t, lora: map[string]*embAdapter{}, saved: map[string]*savedModule{}, tokens: map[string]*tokenRows{}}
}

func (e *embSet) has(name string) bool {
	return e.lora[name] != nil || e.saved[name] != nil || e.tokens[name] != nil
}

func (e *embSet) empty() bool { return len(e.lora)+len(e.saved)+len(e.tokens) == 0 }

// apply installs or removes the hook after the active set changed.
func (e *embSet) apply(active []string, off bool) {
	e.active, e.off = e.active[:0], off
	for _, n := range active {
		if e.has(n) {
			e.active = append(e.active, n)
		}
	}
	if e.Hook == nil {
		return
	}
	if e.empty() {
		if *e.Hook == nn.EmbeddingDelta(e) {
			*e.Hook = nil
		}
		return
	}
	*e.Hook = e
}

// firstSaved is the adapter whose copy of the table is in use among
// names.
func (e *embSet) firstSaved(names []string) *savedModule {
	for _, n := range names {
		if sm := e.saved[n]; sm != nil {
			return sm
		}
	}
	return nil
}

// adapters returns the adapters applied to activation row n: the active
// ones, or the one Rows routes it to (Model.SetRows).
func (e *embSet) adapters(n int) []string {
	if e.rows == nil {
		return e.active
	}
	if name := e.rows[n]; name != "" && slices.Contains(e.active, name) {
		return e.rows[n : n+1]
	}
	return nil
}

// Forward implements nn.EmbeddingDelta: a saved copy replaces the table,
// trainable rows replace theirs, LoRA adds s·B·A[:, id].
func (e *embSet) Forward(ids []int, x []float32) {
	if e.off || len(e.active) == 0 {
		return
	}
	C := e.W.Shape[1]
	for n, id := range ids {
		row := x[n*C : (n+1)*C]
		names := e.adapters(n)
		if sm := e.firstSaved(names); sm != nil {
			copy(row, sm.W.Data[id*C:(id+1)*C])
		}
		for _, name := range names {
			if t := e.tokens[name]; t != nil {
				if j, ok := t.pos[id]; ok {
					copy(row, t.W.Data[j*C:(j+1)*C])
				}
			}
			if a := e.lora[name]; a != nil {
				r, V := a.A.Shape[0], a.A.Shape[1]
				for k := 0; k < r; k++ {
					if s := a.Scaling * a.A.Data[k*V+id]; s != 0 {
						for c := range row {
							row[c] += s * a.B.Data[c*r+k]
						}
					}
				}
			}
		}
	}
}

// Backward implements nn.EmbeddingDelta.
func (e *embSet) Backward(ids []int, dx []float32) {
	if e.off || len(e.active) == 0 {
		return
	}
	C := e.W.Shape[1]
	for n, id := range ids {
		g := dx[n*C : (n+1)*C]
		names := e.adapters(n)
		replaced := false // a trained token row replaced the table's
		for _, name := range names {
			if t := e.tokens[name]; t != nil {
				if j, ok := t.pos[id]; ok {
					replaced = true
					if t.G != nil {
						axpy(t.G.Data[j*C:(j+1)*C], 1, g)
					}
				}
			}
		}
		if sm := e.firstSaved(names); sm != nil && sm.DW != nil && !replaced {
			axpy(sm.DW.Data[id*C:(id+1)*C], 1, g)
		}
		for _, name := range names {
			a := e.lora[name]
			if a == nil || a.DA == nil {
				continue
			}
			r, V := a.A.Shape[0], a.A.Shape[1]
			for k := 0; k < r; k++ {
				var dot float32
				for c, v := range g {
					dot += v * a.B.Data[c*r+k]
				}
				a.DA.Data[k*V+id] += a.Scaling * dot
				if s := a.Scaling * a.A.Data[k*V+id]; s != 0 {
					for c, v := range g {
						a.DB.Data[c*r+k] += s * v
					}
				}
			}
		}
	}
}

func axpy(dst []float32, s float32, x []float32) {
	for i, v := range x {
		dst[i] += s * v
	}
}

// headTokens is trainable tokens on the output head, an nn.Delta: the
// logits of the chosen tokens use their trained rows. A tied head shares
// the embedding's rows (PEFT ties the two TrainableTokensLayers).
type headTokens struct {
	rows  []*tokenRows // of the active adapters
	names []string     // their adapters
	route []string     // per activation row, the one adapter applied (SetRows); nil: all
	V     int          // the head's output width
	dy    []float32
}

// applies reports whether the k-th rows apply to activation row i.
func (h *headTokens) applies(k, i int) bool { return h.route == nil || h.route[i] == h.names[k] }

// Forward sets y[:, id] = x·rowᵀ for every trained id (y holds W0·x).
func (h *headTokens) Forward(x, y []float32, n int) {
	for k, t := range h.rows {
		C := t.W.Shape[1]
		V := h.V
		for i := 0; i < n; i++ {
			if !h.applies(k, i) {
				continue
			}
			xi := x[i*C : (i+1)*C]
			for j, id := range t.IDs {
				var dot float32
				for c, v := range t.W.Data[j*C : (j+1)*C] {
					dot += v * xi[c]
				}
				y[i*V+id] = dot
			}
		}
	}
}

// Backward sends the trained columns' gradient to the rows (not to W0).
func (h *headTokens) Backward(x, dy, dx []float32, n int) []float32 {
	if len(h.rows) == 0 {
		return dy
	}
	V := h.V
	h.dy = grow(h.dy, n*V)
	copy(h.dy, dy[:n*V])
	for k, t := range h.rows {
		C := t.W.Shape[1]
		for i := 0; i < n; i++ {
			if !h.applies(k, i) {
				continue
			}
			for j, id := range t.IDs {
				g := dy[i*V+id]
				h.dy[i*V+id] = 0
				if g == 0 {
					continue
				}
				if t.G != nil {
					axpy(t.G.Data[j*C:(j+1)*C], g, x[i*C:(i+1)*C])
				}
				if dx != nil {
					axpy(dx[i*C:(i+1)*C], g, t.W.Data[j*C:(j+1)*C])
				}
			}
		}
	}
	return h.dy
}

// addEmbedding gives adapter name its parts on the embedding: LoRA when
// the targets match it, a copy for modules_to_save, trainable rows. It
// checks everything before changing anything and returns a function that
// installs the parts.
func (m *Model) addEmbedding(name string, cfg *Config, init string, rng *rand.Rand) (func(), error) {
	e := m.emb
	if e == nil {
		return func() {}, nil
	}
	V, C := e.W.Shape[0], e.W.Shape[1]
	useLoRA := cfg.targetsEmbedding(e.Name)
	save := cfg.savesModule(e.Name)
	ids := cfg.tokensFor(e.Name, true)
	if n := btoi(useLoRA) + btoi(save) + btoi(ids != nil); n > 1 {
		return nil, fmt.Errorf("lora: adapter %q: %s is targeted by more than one of target_modules, modules_to_save and trainable_token_indices; PEFT allows one", name, e.Name)
	}
	if useLoRA {
		if cfg.LoraBias {
			return nil, fmt.Errorf("lora: adapter %q: lora_bias is not supported on the embedding %s (PEFT refuses it too)", name, e.Name)
		}
		if cfg.UseDoRA {
			return nil, fmt.Errorf("lora: adapter %q: DoRA on the embedding %s is not supported", name, e.Name)
		}
		if cfg.EnsureWeightTying() && e.Tied {
			return nil, fmt.Errorf("lora: adapter %q: ensure_weight_tying (a tied LoRA on the output head) is not supported", name)
		}
		if r, _ := cfg.RankAlpha(e.Name); float64(r)*float64(V+C) > 2*float64(V)*float64(C)+maxAdapterSlack { // before allocating
			return nil, fmt.Errorf("lora: adapter %q: r %d on %s (%dx%d) needs more weights than twice the table; lower r (--r)", name, r, e.Name, V, C)
		}
		switch {
		case init == "noinit", init == "true", init == "false", init == "gaussian", init == "default", init == "init_a", init == "init_b", init == "":
		default:
			return nil, fmt.Errorf("lora: adapter %q: init %q is not supported for LoRA on the embedding %s (PEFT's default: A zero, B normal)", name, init, e.Name)
		}
	}
	if cfg.EnsureWeightTying() && e.Tied && (save || (m.headSet() != nil && cfg.savesModule(m.headSet().Module))) {
		return nil, fmt.Errorf("lora: adapter %q: ensure_weight_tying (one modules_to_save copy for the tied embedding and head) is not supported", name)
	}
	for _, id := range ids {
		if id >= V {
			return nil, fmt.Errorf("lora: adapter %q: trainable_token_indices: token id %d outside the vocabulary of %s (%d rows)", name, id, e.Name, V)
		}
	}
	return func() {
		switch {
		case useLoRA:
			r, alpha := cfg.RankAlpha(e.Name)
			a := &embAdapter{Scaling: float32(scaling(alpha, r, cfg.UseRSLoRA)), A: tensor.New(r, V), B: tensor.New(C, r)}
			switch init {
			case "noinit":
			case "false", "init_b":
				fillNormal(a.A.Data, 1, rng)
				fillNormal(a.B.Data, 1, rng)
			default: // PEFT: A zero, B standard normal
				fillNormal(a.B.Data, 1, rng)
			}
			a.DA, a.DB = tensor.New(r, V), tensor.New(C, r)
			e.lora[name] = a
		case save:
			e.saved[name] = &savedModule{W: e.W.Clone(), DW: tensor.New(V, C)}
		case ids != nil:
			e.tokens[name] = newTokenRows(ids, e.W)
		}
	}, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fillNormal(d []float32, std float64, rng *rand.Rand) {
	for i := range d {
		d[i] = float32(rng.NormFloat64() * std)
	}
}

// headSet is the output head's per-layer state, or nil.
func (m *Model) headSet() *Set {
	for _, s := range m.sets {
		if s.Head {
			return s
		}
	}
	return nil
}

// tokensFor returns the trainable token ids the config gives module: the
// list form names the input embedding; in the object form a key matches
// like a target_modules entry.
func (c *Config) tokensFor(module string, isEmbedding bool) []int {
	for _, e := range c.TrainableTokens {
		if (e.Module == "" && isEmbedding) || (e.Module != "" && matchesList([]string{e.Module}, module)) {
			return e.IDs
		}
	}
	return nil
}

// applyHeadTokens installs the trained rows of the active adapters on the
// output head: the embedding's rows when tied, the head's own otherwise.
func (m *Model) applyHeadTokens(active []string, off bool) {
	s := m.headSet()
	if s == nil || m.headTok == nil {
		return
	}
	m.headTok.rows, m.headTok.names = m.headTok.rows[:0], m.headTok.names[:0]
	m.headTok.V = s.Linear.Out()
	if !off {
		for _, n := range active {
			if t := m.headRows[n]; t != nil {
				m.headTok.rows = append(m.headTok.rows, t)
				m.headTok.names = append(m.headTok.names, n)
			}
		}
	}
	if len(m.headTok.rows) > 0 {
		s.Linear.Delta = m.headTok
	} else if s.Linear.Delta == nn.Delta(m.headTok) {
		s.Linear.Delta = nil
	}
}

// embParams lists the embedding's trainable tensors of adapters names
// under their PEFT keys; withBase adds the base table PEFT saves beside
// LoRA on an embedding (save_embedding_layers "auto").
func (m *Model) embParams(names []string, withBase bool) []Param {
	e := m.emb
	if e == nil {
		e = &embSet{}
	}
	p := KeyPrefix + e.Name + "."
	var ps []Param
	for _, n := range names {
		if a := e.lora[n]; a != nil {
			ps = append(ps, Param{Name: p + "lora_embedding_A", Adapter: n, Group: GroupA, W: a.A, G: a.DA},
				Param{Name: p + "lora_embedding_B", Adapter: n, Group: GroupB, W: a.B, G: a.DB})
			if withBase {
				ps = append(ps, Param{Name: p + "base_layer.weight", Adapter: n, Group: GroupBase, W: e.W})
			}
		}
		if sm := e.saved[n]; sm != nil {
			ps = append(ps, Param{Name: p + "weight", Adapter: n, Group: GroupSaved, W: sm.W, G: sm.DW})
		}
		if t := e.tokens[n]; t != nil {
			ps = append(ps, Param{Name: p + "token_adapter.trainable_tokens_delta", Adapter: n, Group: GroupTokens, W: t.W, G: t.G})
		}
		if t := m.headRows[n]; t != nil && (e.tokens[n] == nil || t != e.tokens[n]) {
			ps = append(ps, Param{Name: KeyPrefix + m.headSet().Module + ".token_adapter.trainable_tokens_delta", Adapter: n, Group: GroupTokens, W: t.W, G: t.G})
		}
	}
	return ps
}

// foldEmbedding writes the active embedding parts into the base table
// (merge): the saved copy, the trained rows, W += s·(B·A)ᵀ; and the head's
// own trained rows into the head.
func (m *Model) foldEmbedding() {
	if e := m.emb; e != nil && !e.off {
		C := e.W.Shape[1]
		if sm := e.firstSaved(e.active); sm != nil {
			copy(e.W.Data, sm.W.Data)
		}
		for _, n := range e.active {
			if t := e.tokens[n]; t != nil {
				for j, id := range t.IDs {
					copy(e.W.Data[id*C:(id+1)*C], t.W.Data[j*C:(j+1)*C])
				}
			}
			if a := e.lora[n]; a != nil {
				r, V := a.A.Shape[0], a.A.Shape[1]
				for id := 0; id < V; id++ {
					row := e.W.Data[id*C : (id+1)*C]
					for k := 0; k < r; k++ {
						s := a.Scaling * a.A.Data[k*V+id]
						for c := range row {
							row[c] += s * a.B.Data[c*r+k]
						}
					}
				}
			}
		}
	}
	if s := m.headSet(); s != nil && m.headTok != nil && s.Linear.Delta == nn.Delta(m.headTok) {
		w := s.Linear.W
		for _, t := range m.headTok.rows {
			if m.emb != nil && m.emb.Tied && w == m.emb.W {
				continue // the table is the head's: already written
			}
			C := t.W.Shape[1]
			for j, id := range t.IDs {
				copy(w.Data[id*C:(id+1)*C], t.W.Data[j*C:(j+1)*C])
			}
		}
	}
}

// splitsTied reports whether active adapters change only one side of a
// tied embedding/head pair (LoRA or a saved copy on either), which a merge
// can write only after untying; trainable tokens change both alike.
func (m *Model) splitsTied() bool {
	e := m.emb
	if e == nil || !e.Tied || e.off {
		return false
	}
	for _, n := range e.active {
		if e.lora[n] != nil || e.saved[n] != nil {
			return true
		}
	}
	if s := m.headSet(); s != nil && !s.disabled {
		if len(s.Active()) > 0 {
			return true
		}
		for _, n := range m.active {
			if s.saved[n] != nil {
				return true
			}
		}
	}
	return false
}
