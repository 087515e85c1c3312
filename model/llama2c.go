package model

import "github.com/golora/golora/format/llama2c"

// fromLlama2C loads a llama2.c checkpoint (run.c's version 0, or export
// version 1) read by format/llama2c, whose Hugging Face view (rotate_half
// RoPE rows, HF names) is what the llama family runs. name is used in
// errors.
func fromLlama2C(data []byte, name string) (*Transformer, error) {
	ck, err := llama2c.Parse(name, data)
	if err != nil {
		return nil, err
	}
	c := ck.Config
	tied := c.SharedClassifier
	cfg := &Config{
		ModelType: "llama", VocabSize: c.VocabSize, HiddenSize: c.Dim, IntermediateSize: c.HiddenDim,
		NumHiddenLayers: c.NLayers, NumAttentionHeads: c.NHeads, NumKeyValueHeads: c.NKVHeads, HeadDim: c.HeadDim(),
		MaxPositionEmbeddings: c.SeqLen, RopeTheta: 10000, RMSNormEps: 1e-5, HiddenAct: "silu",
		TieWordEmbeddings: &tied, BOSTokenID: TokenIDs{1}, EOSTokenID: TokenIDs{2},
	}
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	return loadModel(cfg, mapSource(ck.HFTensors()), name)
}
