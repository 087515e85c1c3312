package lora

import (
	"fmt"
	"slices"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
)

// SaveGGUF writes the one active adapter in llama.cpp's LoRA adapter GGUF
// (convert_lora_to_gguf.py, llama-adapter.cpp): general.type "adapter",
// adapter.type "lora", adapter.lora.alpha (f32), and for each adapted
// linear <base GGUF name>.lora_a (ggml [in, r]: PEFT's lora_A as is) and
// .lora_b ([r, out]), F32. llama.cpp scales every tensor by alpha/r with r
// read from the tensor, so per-module scalings that differ from that
// (rank_pattern, alpha_pattern, rsLoRA) are folded into lora_b. Llama's q/k
// lora_b rows are permuted like the base weights. What llama.cpp's format
// cannot carry (DoRA, lora_bias, modules_to_save, embedding LoRA, trainable
// tokens, an adapter on a tied head) is refused by name.
func (m *Model) SaveGGUF(path string, cfg *model.Config, name string) error {
	if len(m.active) != 1 {
		return fmt.Errorf("lora: a GGUF adapter holds one adapter; %d are active (%v)", len(m.active), m.active)
	}
	act := m.active[0]
	c := m.configs[act]
	if c == nil {
		return fmt.Errorf("lora: adapter %q has no config", act)
	}
	var other []string
	for _, p := range m.Params() {
		switch p.Group {
		case GroupA, GroupB:
		default:
			other = append(other, p.Name)
		}
	}
	if len(other) > 0 {
		return fmt.Errorf("lora: llama.cpp's adapter GGUF holds only LoRA A/B of linear layers; this adapter also has %v", other)
	}
	if c.LoraAlpha <= 0 {
		return fmt.Errorf("lora: adapter %q: lora_alpha %g cannot be written as adapter.lora.alpha", act, c.LoraAlpha)
	}
	kv, err := model.GGUFMetadata(cfg, name)
	if err != nil {
		return err
	}
	kv = []gguf.KV{kv[0], kv[1],
		{Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"},
		{Key: "adapter.lora.alpha", Value: float32(c.LoraAlpha)},
	}
	var ts []gguf.WriteTensor
	for _, s := range m.sets {
		a := s.adapters[act]
		if a == nil || !slices.Contains(s.Active(), a) {
			continue
		}
		if a.Variant != nil || a.Bias != nil {
			return fmt.Errorf("lora: %s: DoRA and lora_bias cannot be written to llama.cpp's adapter GGUF", s.Module)
		}
		if s.Head && cfg.Tied() {
			return fmt.Errorf("lora: %s: LoRA on a head tied to the embedding has no tensor to attach to in GGUF (llama.cpp refuses it)", s.Module)
		}
		g, ok := model.GGUFName(cfg.ModelType, s.Module+".weight")
		if !ok {
			return fmt.Errorf("lora: %s has no GGUF name for model_type %s", s.Module, cfg.ModelType)
		}
		r := a.A.Shape[0]
		f := float64(a.Scaling) / (c.LoraAlpha / float64(r))
		b := tensor.From(slices.Clone(a.B.Data), a.B.Shape...)
		if f != 1 {
			for i := range b.Data {
				b.Data[i] *= float32(f)
			}
		}
		b = model.GGUFPermuteRows(cfg, s.Module, b, true)
		A := a.A
		ts = append(ts,
			gguf.WriteTensor{Name: g + ".lora_a", Type: gguf.F32, Shape: A.Shape, Data: func() ([]byte, error) { return gguf.Quantize(A.Data, gguf.F32) }},
			gguf.WriteTensor{Name: g + ".lora_b", Type: gguf.F32, Shape: b.Shape, Data: func() ([]byte, error) { return gguf.Quantize(b.Data, gguf.F32) }})
	}
	if len(ts) == 0 {
		return fmt.Errorf("lora: adapter %q adapts no linear layer", act)
	}
	return gguf.Write(path, kv, ts)
}
