package train

import (
	"fmt"

	"github.com/golora/golora/model"
)

// ModelShape is the size of a model built from scratch (golora pretrain,
// golora bench train). Zero fields take the family's defaults (see
// ModelConfig).
type ModelShape struct {
	Arch         string `yaml:"arch" json:"arch"`
	Layers       int    `yaml:"layers" json:"layers"`
	Hidden       int    `yaml:"hidden" json:"hidden"`
	Heads        int    `yaml:"heads" json:"heads"`
	KVHeads      int    `yaml:"kv-heads" json:"kv-heads"`
	Intermediate int    `yaml:"intermediate" json:"intermediate"`
	Vocab        int    `yaml:"vocab" json:"vocab"`
}

// ModelConfig is the Hugging Face config of the shape with positions for
// seqLen tokens; vocab is used when the shape gives none.
func (s ModelShape) ModelConfig(seqLen, vocab int) (*model.Config, error) {
	if s.Layers < 1 || s.Hidden < 1 || s.Heads < 1 || s.Hidden%s.Heads != 0 {
		return nil, fmt.Errorf("train: model shape: --layers %d --hidden %d --heads %d: want positive sizes with hidden divisible by heads", s.Layers, s.Hidden, s.Heads)
	}
	c := &model.Config{ModelType: s.Arch, NumHiddenLayers: s.Layers, HiddenSize: s.Hidden, NumAttentionHeads: s.Heads,
		NumKeyValueHeads: s.KVHeads, VocabSize: s.Vocab, IntermediateSize: s.Intermediate}
	if c.VocabSize == 0 {
		c.VocabSize = vocab
	}
	switch s.Arch {
	case "gpt2":
		if c.VocabSize == 0 {
			c.VocabSize = 50257
		}
		if s.KVHeads != 0 && s.KVHeads != s.Heads {
			return nil, fmt.Errorf("train: gpt2 has no grouped-query attention (--kv-heads must equal --heads)")
		}
		c.NumKeyValueHeads = 0
		c.MaxPositionEmbeddings = max(1024, seqLen)
		if s.Intermediate > 0 {
			n := s.Intermediate
			c.NInner = &n
		}
	case "llama":
		if c.VocabSize == 0 {
			c.VocabSize = 32000
		}
		if c.NumKeyValueHeads == 0 {
			c.NumKeyValueHeads = s.Heads
			if s.Heads == 12 {
				c.NumKeyValueHeads = 4
			}
		}
		if c.IntermediateSize == 0 {
			c.IntermediateSize = (s.Hidden*8/3 + 63) / 64 * 64
		}
		c.MaxPositionEmbeddings = max(2048, seqLen)
		c.HiddenAct = "silu"
	default:
		return nil, fmt.Errorf("train: --arch %q: want llama or gpt2", s.Arch)
	}
	return c, nil
}
