package lora

import (
	"fmt"
	"strconv"

	"github.com/golora/golora/tensor"
)

// Group tags a trainable tensor for optimizer parameter groups.
type Group int

// The parameter groups: LoRA+ trains B (and, like PEFT's loraplus
// optimizer, every 1-D tensor) at ratio × the learning rate of A.
const (
	GroupA Group = iota
	GroupB
	GroupMagnitude
	GroupBias
	GroupBottleneck
	GroupSaved  // a modules_to_save copy
	GroupTokens // trainable token rows
	GroupBase   // a base table saved beside the adapter (not trained)
)

func (g Group) String() string {
	switch g {
	case GroupA:
		return "lora_A"
	case GroupB:
		return "lora_B"
	case GroupMagnitude:
		return "magnitude"
	case GroupBias:
		return "bias"
	case GroupBottleneck:
		return "bottleneck"
	case GroupSaved:
		return "modules_to_save"
	case GroupTokens:
		return "trainable_tokens"
	case GroupBase:
		return "base_layer"
	}
	return "group(" + strconv.Itoa(int(g)) + ")"
}

// Param is one trainable tensor with its gradient buffer. Name is the key
// it is saved under (PEFT naming, adapter name removed).
type Param struct {
	Name    string
	Adapter string
	Group   Group
	W, G    *tensor.Tensor
}

// KeyPrefix is the prefix PEFT puts before module names in adapter files.
const KeyPrefix = "base_model.model."

// Params lists the trainable tensors of the active adapters (and trained
// biases), in model order.
func (m *Model) Params() []Param {
	var ps []Param
	for _, s := range m.sets {
		if s.disabled {
			continue
		}
		for _, a := range s.Active() {
			ps = append(ps, a.params()...)
		}
	}
	ps = append(ps, m.biasParams()...)
	if len(m.sets) > 0 && !m.sets[0].disabled {
		ps = append(ps, m.savedParams(m.firstSaved())...)
	}
	if m.emb == nil || !m.emb.off {
		ps = append(ps, m.embParams(m.active, false)...)
	}
	for _, name := range m.active {
		for _, h := range m.hooks[name] {
			ps = append(ps, h.params()...)
		}
	}
	return ps
}

func (a *Adapter) params() []Param {
	p := KeyPrefix + a.Module + "."
	ps := []Param{
		{Name: p + "lora_A.weight", Adapter: a.Name, Group: GroupA, W: a.A, G: a.DA},
		{Name: p + "lora_B.weight", Adapter: a.Name, Group: GroupB, W: a.B, G: a.DB},
	}
	if a.Bias != nil {
		ps = append(ps, Param{Name: p + "lora_B.bias", Adapter: a.Name, Group: GroupB, W: a.Bias, G: a.DBias})
	}
	if a.Variant != nil {
		for _, v := range a.Variant.Params() {
			ps = append(ps, Param{Name: p + v.Suffix, Adapter: a.Name, Group: v.Group, W: v.W, G: v.DW})
		}
	}
	return ps
}

// biasParams lists the biases trained because of bias "all"/"lora_only".
func (m *Model) biasParams() []Param {
	var ps []Param
	for _, s := range m.sets {
		if s.Linear.B != nil && s.Linear.DB != nil && m.trainsBias(s) {
			ps = append(ps, Param{Name: KeyPrefix + s.Module + ".bias", Group: GroupBias, W: s.Linear.B, G: s.Linear.DB})
		}
	}
	return ps
}

func (m *Model) trainsBias(s *Set) bool {
	for _, n := range m.active {
		c := m.configs[n]
		if c == nil {
			continue
		}
		if c.Bias == "all" || (c.Bias == "lora_only" && s.adapters[n] != nil) {
			return true
		}
	}
	return false
}

// ZeroGrad zeroes the gradients of every adapter (Backward accumulates).
func (m *Model) ZeroGrad() {
	for _, p := range m.Params() {
		if p.G != nil {
			p.G.Zero()
		}
	}
}

// ParamGroup is a set of tensors sharing one learning rate.
type ParamGroup struct {
	Name   string
	LR     float64
	Params []Param
}

// ParamGroups splits the trainable tensors for the optimizer. With
// loraPlusRatio > 0 it is LoRA+ (Hayou et al. 2024, PEFT's
// create_loraplus_optimizer): lora_B and every 1-D tensor (DoRA magnitude,
// biases) get lr × ratio, the rest lr. With ratio 0 there is one group.
func (m *Model) ParamGroups(lr, loraPlusRatio float64) []ParamGroup {
	ps := m.Params()
	if loraPlusRatio <= 0 {
		return []ParamGroup{{Name: "all", LR: lr, Params: ps}}
	}
	a := ParamGroup{Name: "groupA", LR: lr}
	b := ParamGroup{Name: "groupB", LR: lr * loraPlusRatio}
	for _, p := range ps {
		if p.Group == GroupB || len(p.W.Shape) == 1 {
			b.Params = append(b.Params, p)
		} else {
			a.Params = append(a.Params, p)
		}
	}
	return []ParamGroup{a, b}
}

// NumParams returns the trainable count and the count of all parameters
// (base plus every adapter, active or not), as PEFT counts them.
func (m *Model) NumParams() (trainable, all int) {
	for _, p := range m.Params() {
		trainable += p.W.Len()
	}
	all = m.BaseParams
	for _, s := range m.sets {
		for _, a := range s.adapters {
			all += a.NumParams()
		}
	}
	for _, hs := range m.hooks {
		for _, h := range hs {
			all += h.NumParams()
		}
	}
	for _, p := range m.savedParams(m.names) {
		all += p.W.Len()
	}
	for _, p := range m.embParams(m.names, false) {
		all += p.W.Len()
	}
	return trainable, all
}

// Summary is PEFT's print_trainable_parameters line.
func (m *Model) Summary() string {
	tr, all := m.NumParams()
	pct := 0.0
	if all > 0 {
		pct = 100 * float64(tr) / float64(all)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", commas(tr), commas(all), pct)
}

// commas formats n as Python's f"{n:,d}".
func commas(n int) string {
	s := strconv.Itoa(n)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
