// The decoder-only transformer shared by golora's model families: a block
// (norm, attention, residual, norm, MLP, residual) whose variants (RMSNorm
// or LayerNorm, RoPE or learned positions, SwiGLU, GeGLU or GELU MLP, fused
// or separate projections, biases, q/k norms, norms after the sublayers,
// scales and soft-caps) are chosen by arch, and whose per-layer sliding
// windows and RoPE come from the Config. The family files
// (family_llama.go, family_gpt2.go) only name the weights and set the arch.
//
// Shapes use llm.c's letters: B batch rows, T tokens per row, N = B*T rows of
// activations (row n = b*T + t), C hidden size, NH query heads, NKV key/value
// heads, D head size, QD = NH*D, KVD = NKV*D, I MLP width, V vocabulary.

package model

import (
	"fmt"
	"math"

	"github.com/golora/golora/kernels"
	"github.com/golora/golora/nn"
	"github.com/golora/golora/tensor"
)

// arch selects the block variant.
type arch struct {
	LayerNorm  bool // LayerNorm with bias (GPT-2); otherwise RMSNorm
	GELU       bool // GELU MLP fc→gelu→proj (GPT-2); otherwise SwiGLU gate/up/down
	GELUErf    bool // exact erf GELU instead of the tanh approximation
	LearnedPos bool // learned position table (GPT-2); otherwise RoPE (rotate_half)
	FusedQKV   bool // one [3C, C] q|k|v projection (GPT-2 c_attn)
	QKVBias    bool // biases on q, k, v
	OBias      bool // bias on the attention output projection
	MLPBias    bool // biases on the MLP projections
	Conv1D     bool // checkpoint stores block linears [in, out] (GPT-2)

	FusedGateUp bool   // one [2I, C] gate|up projection, gate first (Phi-3)
	GeGLU       bool   // gelu_tanh(gate)·up instead of silu(gate)·up (Gemma)
	NormPlusOne bool   // RMSNorms scale by 1+w (Gemma stores w-1)
	NoPreNorm   bool   // no norm before attention and MLP (OLMo 2)
	PostNorm    bool   // a norm on the attention and MLP outputs before each residual add (Gemma, OLMo 2)
	QKNorm      qkNorm // RMSNorm on queries and keys before RoPE

	// Scalars; 0 means the plain transformer's value.
	EmbedScale   float32 // embeddings ×; 0: 1 (Gemma √C, Granite embedding_multiplier)
	ResidScale   float32 // sublayer outputs × before each residual add; 0: 1 (Granite)
	AttnScale    float32 // attention scores ×; 0: 1/√D (Gemma query_pre_attn_scalar, Granite)
	AttnSoftCap  float32 // scores capped to cap·tanh(s/cap); 0: none (Gemma 2)
	LogitScale   float32 // logits ×; 0: 1 (Granite 1/logits_scaling)
	LogitSoftCap float32 // logits capped to cap·tanh(z/cap); 0: none (Gemma 2)
}

// qkNorm is where arch puts RMSNorms on the queries and keys.
type qkNorm int

// The qkNorm variants.
const (
	qkNormNone qkNorm = iota
	qkNormHead        // per head over D, weights (D) (Qwen3, Gemma 3)
	qkNormAll         // over the whole projection, weights (NH·D) and (NKV·D) (OLMo 2)
)

// weightNames are the checkpoint names of the weights; linear entries are module
// names (".weight" / ".bias" are appended), norm entries are prefixes too.
type weightNames struct {
	Embed, Pos, FinalNorm, Head string
	Layer                       func(l int) layerNames
}

// layerNames are one block's module names; empty entries are unused.
type layerNames struct {
	Norm1, Norm2, PostAttn, PostMLP, QNorm, KNorm     string
	QKV, Q, K, V, O, Fc, Proj, Gate, Up, GateUp, Down string
}

// norm is an RMSNorm (B nil) or LayerNorm weight with gradients.
type norm struct {
	W, B   *tensor.Tensor // (C)
	DW, DB *tensor.Tensor // nil when frozen
	plus   []float32      // 1+W when arch.NormPlusOne
}

// layer is one transformer block. Hooks are applied to the attention and
// MLP outputs before the residual add.
type layer struct {
	Norm1, Norm2      norm       // pre-attention and pre-MLP (absent with NoPreNorm)
	PostAttn, PostMLP norm       // on the sublayer outputs (PostNorm only)
	QNorm, KNorm      norm       // (D) or (QD), (KVD) (QKNorm only)
	QKV               *nn.Linear // (QD+2KVD, C), fused GPT-2 c_attn / Phi-3 qkv_proj; nil otherwise
	Q, K, V           *nn.Linear // (QD, C), (KVD, C), (KVD, C); nil when fused
	O                 *nn.Linear // (C, QD)
	Fc, Proj          *nn.Linear // (I, C), (C, I): GELU MLP
	Gate, Up, Down    *nn.Linear // (I, C), (I, C), (C, I): gated MLP
	GateUp            *nn.Linear // (2I, C) fused gate|up (Phi-3); Gate and Up nil
	AttnHook, MLPHook nn.SublayerHook
}

// Param is one named weight: W its values, G its gradient (nil unless
// trainable). Names are the HF checkpoint names. Conv1D marks GPT-2
// weights stored [in, out] in checkpoints; W here is always [out, in].
type Param struct {
	Name      string
	W, G      *tensor.Tensor
	Trainable bool
	Conv1D    bool
}

// NamedLinear is a linear layer with its PEFT module name (for LoRA
// targeting). Head marks the output projection; Conv1D marks GPT-2 layers
// whose checkpoint weight is [in, out] (PEFT fan_in_fan_out).
type NamedLinear struct {
	Name   string
	Linear *nn.Linear
	Head   bool
	Conv1D bool
}

type slot struct {
	name   string
	w      *tensor.Tensor
	g      **tensor.Tensor
	conv1d bool
}

// Transformer is a loaded decoder-only model. It is not safe for concurrent
// use: activations and scratch buffers live in it and are reused per call.
type Transformer struct {
	cfg  *Config
	arch arch

	wte, wpe   *tensor.Tensor // (V, C), (maxPos, C) or nil
	dwte, dwpe *tensor.Tensor
	layers     []layer
	normF      norm
	head       *nn.Linear // (V, C); W is wte when tied

	// embedDelta, when set, changes the token lookup (LoRA on the
	// embedding, modules_to_save, trainable tokens); see Embedding.
	embedDelta nn.EmbeddingDelta

	// checkpointing keeps only each block's input during Forward and
	// recomputes the block in Backward: activation memory O(L·N·C) instead
	// of O(L·N·(C+I+NH·T)), for one extra forward.
	checkpointing bool
	// fullBackward runs backward through every block down to the
	// embeddings even where nothing below trains (the frozen-base baseline
	// of golora bench train --method none); otherwise it stops below the
	// lowest trainable block.
	fullBackward bool

	slots   []slot
	embName string // PEFT module name of the token embedding
	linears []NamedLinear
	ropes   []*ropeState // per layer, nil: no RoPE; rotate_half (llama2.c weights are permuted on load)
	dims    []attnDims   // per layer: head sizes, scale, window, soft-cap

	half     map[*nn.Linear][]uint16 // F16 weight copies for decode, see SetDecodeF16
	qacts    kernels.QActs           // int8 activations of quantized steps, see quant.go
	stepping bool                    // inside Step: the only path that may use half
	fileName func(string) string
	acts     acts
	dec      stepActs
}

// ropeInitialPositions is how many positions the RoPE tables cover before
// they first grow.
const ropeInitialPositions = 2048

// New allocates a zero model of cfg's sizes with arch's variant and names.
func newTransformer(cfg *Config, arch arch, names weightNames) *Transformer {
	C, L, V := cfg.HiddenSize, cfg.NumHiddenLayers, cfg.VocabSize
	NH, NKV, D, I := cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim, cfg.IntermediateSize
	QD, KVD := NH*D, NKV*D
	if arch.FusedQKV && arch.QKNorm != qkNormNone {
		// q and k stay in the fused output's rows (sizeLayer), where the
		// norms, which read packed rows, cannot take them; no family has both.
		panic("model: a fused q|k|v projection with q/k norms is not supported")
	}
	m := &Transformer{cfg: cfg, arch: arch}
	scale := arch.AttnScale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(D)))
	}
	m.wte = tensor.New(V, C)
	m.embName = names.Embed
	m.addSlot(names.Embed+".weight", m.wte, &m.dwte, false)
	if arch.LearnedPos {
		m.wpe = tensor.New(cfg.MaxPositionEmbeddings, C)
		m.addSlot(names.Pos+".weight", m.wpe, &m.dwpe, false)
	}
	m.layers = make([]layer, L)
	m.ropes = make([]*ropeState, L)
	m.dims = make([]attnDims, L)
	states := map[*ropeSpec]*ropeState{} // layers sharing a spec share its tables
	for l := range m.layers {
		m.dims[l] = attnDims{NH: NH, NKV: NKV, D: D, opt: nn.AttnOptions{Scale: scale, Window: cfg.Window(l), SoftCap: arch.AttnSoftCap}}
		if spec := cfg.layerRope(l); spec != nil && !arch.LearnedPos {
			if states[spec] == nil {
				states[spec] = newRopeState(spec, cfg, D)
			}
			m.ropes[l] = states[spec]
		}
		ly := &m.layers[l]
		n := names.Layer(l)
		if !arch.NoPreNorm {
			m.addNorm(n.Norm1, &ly.Norm1, C)
		}
		if arch.FusedQKV {
			ly.QKV = m.addLinear(n.QKV, QD+2*KVD, C, arch.QKVBias, false)
		} else {
			ly.Q = m.addLinear(n.Q, QD, C, arch.QKVBias, false)
			ly.K = m.addLinear(n.K, KVD, C, arch.QKVBias, false)
			ly.V = m.addLinear(n.V, KVD, C, arch.QKVBias, false)
		}
		switch arch.QKNorm {
		case qkNormHead:
			m.addNorm(n.QNorm, &ly.QNorm, D)
			m.addNorm(n.KNorm, &ly.KNorm, D)
		case qkNormAll:
			m.addNorm(n.QNorm, &ly.QNorm, QD)
			m.addNorm(n.KNorm, &ly.KNorm, KVD)
		}
		ly.O = m.addLinear(n.O, C, QD, arch.OBias, false)
		if arch.PostNorm {
			m.addNorm(n.PostAttn, &ly.PostAttn, C)
		}
		if !arch.NoPreNorm {
			m.addNorm(n.Norm2, &ly.Norm2, C)
		}
		switch {
		case arch.GELU:
			ly.Fc = m.addLinear(n.Fc, I, C, arch.MLPBias, false)
			ly.Proj = m.addLinear(n.Proj, C, I, arch.MLPBias, false)
		case arch.FusedGateUp:
			ly.GateUp = m.addLinear(n.GateUp, 2*I, C, arch.MLPBias, false)
			ly.Down = m.addLinear(n.Down, C, I, arch.MLPBias, false)
		default:
			ly.Gate = m.addLinear(n.Gate, I, C, arch.MLPBias, false)
			ly.Up = m.addLinear(n.Up, I, C, arch.MLPBias, false)
			ly.Down = m.addLinear(n.Down, C, I, arch.MLPBias, false)
		}
		if arch.PostNorm {
			m.addNorm(n.PostMLP, &ly.PostMLP, C)
		}
	}
	m.addNorm(names.FinalNorm, &m.normF, C)
	if cfg.Tied() {
		m.head = &nn.Linear{W: m.wte}
		m.linears = append(m.linears, NamedLinear{Name: names.Head, Linear: m.head, Head: true})
	} else {
		m.head = m.addLinear(names.Head, V, C, false, true)
	}
	return m
}

func (m *Transformer) addSlot(name string, w *tensor.Tensor, g **tensor.Tensor, conv bool) {
	m.slots = append(m.slots, slot{name: name, w: w, g: g, conv1d: conv})
}

func (m *Transformer) addNorm(name string, n *norm, C int) {
	n.W = tensor.New(C)
	one := float32(1)
	if m.arch.NormPlusOne {
		one = 0 // 1+w = 1
	}
	for i := range n.W.Data {
		n.W.Data[i] = one
	}
	m.addSlot(name+".weight", n.W, &n.DW, false)
	if m.arch.LayerNorm {
		n.B = tensor.New(C)
		m.addSlot(name+".bias", n.B, &n.DB, false)
	}
}

func (m *Transformer) addLinear(name string, out, in int, bias, head bool) *nn.Linear {
	conv := m.arch.Conv1D && !head
	l := &nn.Linear{W: tensor.New(out, in)}
	m.addSlot(name+".weight", l.W, &l.DW, conv)
	if bias {
		l.B = tensor.New(out)
		m.addSlot(name+".bias", l.B, &l.DB, false)
	}
	m.linears = append(m.linears, NamedLinear{Name: name, Linear: l, Head: head, Conv1D: conv})
	return l
}

// Config is the model's configuration (do not modify).
func (m *Transformer) Config() *Config { return m.cfg }

// Params lists every weight once, in checkpoint order (a tied head is not
// listed separately: its gradient accumulates into the embedding's).
func (m *Transformer) Params() []Param {
	ps := make([]Param, len(m.slots))
	for i, s := range m.slots {
		ps[i] = Param{Name: s.name, W: s.w, G: *s.g, Trainable: *s.g != nil, Conv1D: s.conv1d}
	}
	return ps
}

// SetTrainable marks the weights whose names match as trainable, giving
// them gradient buffers (new ones zeroed, existing ones kept), and freezes
// the rest, dropping theirs.
// nil freezes everything. Frozen weights cost no gradient compute.
func (m *Transformer) SetTrainable(match func(name string) bool) {
	for _, s := range m.slots {
		if match != nil && match(s.name) {
			checkHalfTrainable(s)
			if *s.g == nil {
				*s.g = tensor.New(s.w.Shape...)
			}
		} else {
			*s.g = nil
		}
	}
	if m.cfg.Tied() {
		m.head.DW = m.dwte
	}
}

// ZeroGrad zeroes every gradient buffer (Backward accumulates).
func (m *Transformer) ZeroGrad() {
	for _, s := range m.slots {
		if *s.g != nil {
			(*s.g).Zero()
		}
	}
}

// Linears lists the linear layers with their PEFT module names, blocks in
// order (attention then MLP), the output head last.
func (m *Transformer) Linears() []NamedLinear { return append([]NamedLinear(nil), m.linears...) }

// NamedEmbedding is the token embedding with its PEFT module name, for
// adapters on it: Delta points at the model's embedDelta hook, Tied says the
// output head reads the same table.
type NamedEmbedding struct {
	Name  string
	W     *tensor.Tensor // (V, C)
	Tied  bool
	Delta *nn.EmbeddingDelta
}

// Embedding returns the token embedding and its hook.
func (m *Transformer) Embedding() NamedEmbedding {
	return NamedEmbedding{Name: m.embName, W: m.wte, Tied: m.cfg.Tied(), Delta: &m.embedDelta}
}

// Untie gives a tied model's head its own copy of the embedding table, so
// that a merged adapter may change one and not the other; the config then
// says tie_word_embeddings false and SaveHF writes the head's weight. The
// head keeps its *nn.Linear, so adapters on it stay in place.
func (m *Transformer) Untie() {
	if !m.cfg.Tied() {
		return
	}
	f := false
	m.cfg.TieWordEmbeddings = &f
	m.head.W, m.head.DW = m.wte.Clone(), nil
	m.addSlot(m.linears[len(m.linears)-1].Name+".weight", m.head.W, &m.head.DW, false)
	if m.half != nil {
		m.SetDecodeF16(true)
	}
}

// SetSublayerHook installs (nil removes) a hook on layer l's "attn" or "mlp"
// output, applied before the residual add (bottleneck adapters).
func (m *Transformer) SetSublayerHook(l int, which string, h nn.SublayerHook) error {
	if l < 0 || l >= len(m.layers) {
		return fmt.Errorf("model: layer %d out of range [0, %d)", l, len(m.layers))
	}
	switch which {
	case "attn":
		m.layers[l].AttnHook = h
	case "mlp":
		m.layers[l].MLPHook = h
	default:
		return fmt.Errorf("model: sublayer %q (expected \"attn\" or \"mlp\")", which)
	}
	return nil
}

// checkIDs panics on ids outside the vocabulary: a caller bug (tokenizer
// and model disagree) that would otherwise read out of bounds.
func (m *Transformer) checkIDs(ids []int) {
	V := m.cfg.VocabSize
	for i, id := range ids {
		if id < 0 || id >= V {
			panic(fmt.Sprintf("model: token id %d at index %d outside vocabulary [0, %d)", id, i, V))
		}
	}
}

// SetCheckpointing makes Forward keep only each block's input and Backward
// recompute the block: activation memory O(L·N·C) instead of
// O(L·N·(C+I+NH·T)), for one extra forward.
func (m *Transformer) SetCheckpointing(on bool) { m.checkpointing = on }

// SetFullBackward makes Backward run through every block down to the
// embeddings even where nothing below trains (the frozen-base baseline of
// golora bench train --method none); otherwise it stops below the lowest
// trainable block.
func (m *Transformer) SetFullBackward(on bool) { m.fullBackward = on }
