package model_test

import (
	"fmt"
	"log"
	"slices"

	"github.com/golora/golora/model"
)

// Load opens a model: "" is the embedded stories260K; a Hugging Face
// folder, a .safetensors or .gguf file, a llama2.c .bin or a hub id in the
// local cache load the same way. Forward returns one row of logits per
// input position (the causal LM's next-token scores).
func ExampleLoad() {
	m, err := model.Load("")
	if err != nil {
		log.Fatal(err)
	}
	cfg := m.Config()
	fmt.Println(cfg.ModelType, cfg.NumHiddenLayers, "layers, vocabulary", cfg.VocabSize)

	ids := []int{1, 403, 407} // BOS "Once" " upon"
	logits := m.Forward(ids, 1, len(ids))
	fmt.Println(len(logits)/cfg.VocabSize, "rows of logits")
	last := logits[2*cfg.VocabSize:]
	fmt.Println("most likely next token:", slices.Index(last, slices.Max(last))) // 261 is " a"
	// Output:
	// llama 5 layers, vocabulary 512
	// 3 rows of logits
	// most likely next token: 261
}
