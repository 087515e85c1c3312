package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/golora/golora/format/llama2c"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
)

// TestInspectLlama2CVersion1: a llama2.c export version 1 file (written
// here from the embedded stories260K) is read by the one llama2.c reader:
// inspect describes it and generate's loader runs it as the original.
func TestInspectLlama2CVersion1(t *testing.T) {
	ck, err := llama2c.Parse("embedded", embedded.Model)
	if err != nil {
		t.Fatal(err)
	}
	ck.Version = 1
	path := filepath.Join(t.TempDir(), "v1.bin")
	if err := llama2c.Write(path, ck); err != nil {
		t.Fatal(err)
	}
	rep, err := inspectPath(path)
	if err != nil {
		t.Fatalf("inspect v1.bin: %v", err)
	}
	if a := rep.Architecture; rep.Kind != "llama2c" || rep.Parameters != 260032 || a == nil || a.NumLayers != 5 || a.NumKVHeads != 4 || !a.TieWordEmbeddings {
		t.Errorf("inspect v1.bin: kind %s, %d parameters, architecture %+v", rep.Kind, rep.Parameters, rep.Architecture)
	}
	v1, err := model.Load(path)
	if err != nil {
		t.Fatalf("loading v1.bin: %v", err)
	}
	v0, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{1, 403, 407, 261, 378, 1}
	if a, b := v0.Forward(ids, 1, len(ids)), v1.Forward(ids, 1, len(ids)); !slices.Equal(a, b) {
		t.Error("the version 1 file gives other logits than the original")
	}
}
