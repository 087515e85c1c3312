package main

import (
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/model"
)

// inspectGGUF summarises a .gguf file: metadata (arrays by their length),
// tensors in row-major shape with their ggml type, and the architecture
// golora reads from it (absent when golora cannot load the architecture).
func inspectGGUF(path string) (*inspectReport, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &inspectReport{Path: path, Kind: "gguf", Files: []string{filepath.Base(path)}, Metadata: map[string]string{}}
	for _, kv := range f.KVs {
		v := reflect.ValueOf(kv.Value)
		if v.Kind() == reflect.Slice {
			rep.Metadata[kv.Key] = fmt.Sprintf("[%d × %s]", v.Len(), v.Type().Elem())
		} else {
			rep.Metadata[kv.Key] = fmt.Sprint(kv.Value)
		}
	}
	for _, ti := range f.Tensors {
		rep.add(ti.Name, ti.Type.String(), ti.Shape(), ti.Size)
	}
	if typ, _ := f.String("general.type"); typ == "adapter" {
		rep.Kind = "gguf adapter"
		return rep, nil
	}
	if cfg, err := model.ConfigFromGGUF(f); err == nil {
		rep.Architecture = &archSummary{
			ModelType: cfg.ModelType, HiddenSize: cfg.HiddenSize, NumLayers: cfg.NumHiddenLayers,
			NumHeads: cfg.NumAttentionHeads, NumKVHeads: cfg.NumKeyValueHeads, HeadDim: cfg.HeadDim,
			IntermediateSize: cfg.IntermediateSize, VocabSize: cfg.VocabSize, MaxPositions: cfg.MaxPositionEmbeddings,
			TieWordEmbeddings: cfg.Tied(), RopeTheta: cfg.RopeTheta, NormEps: cfg.RMSNormEps + cfg.LayerNormEpsilon,
		}
	} else {
		rep.Metadata["golora"] = err.Error()
	}
	return rep, nil
}
