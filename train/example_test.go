package train_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/golora/golora/data"
	"github.com/golora/golora/model"
	"github.com/golora/golora/model/embedded"
	"github.com/golora/golora/tokenizer"
	"github.com/golora/golora/train"
)

// The shortest program that fine-tunes with the engine: the embedded
// stories260K model gets a LoRA adapter, trains a few steps on two
// examples, and the adapter is saved in PEFT's layout. It links no flag,
// YAML or plotting library, and writes no checkpoints or metrics.
func Example() {
	m, err := model.Load("") // "": the embedded model
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.ParseLlama2C(embedded.Tokenizer)
	if err != nil {
		log.Fatal(err)
	}
	examples := `{"prompt": "Once upon a time", "completion": " there was a little cat."}
{"prompt": "The dog was", "completion": " happy to play in the park."}`
	ds, _, err := data.LoadReader(strings.NewReader(examples), "examples", tok, data.Options{})
	if err != nil {
		log.Fatal(err)
	}
	out, err := os.MkdirTemp("", "golora-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(out)

	cfg := train.DefaultConfig() // LoRA r 8, alpha 16 on q and v
	cfg.Out, cfg.Steps, cfg.Warmup, cfg.LR, cfg.Batch, cfg.SeqLen = out, 10, 0, 1e-2, 2, 32
	task, err := train.NewModelTask(m, cfg) // adds the LoRA adapter to m
	if err != nil {
		log.Fatal(err)
	}
	it, err := data.NewIterator(ds.Examples, data.BatchOptions{BatchSize: cfg.Batch, SeqLen: cfg.SeqLen, PadID: tok.EOS(), Shuffle: true})
	if err != nil {
		log.Fatal(err)
	}
	tr := &train.Trainer{Config: cfg, Task: task, Train: train.IteratorBatches(it),
		NoCheckpoints: true, NoMetrics: true, Log: io.Discard}
	sum, err := tr.Run(context.Background()) // trains, then saves the adapter to cfg.Out
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("steps:", sum.Steps)
	fmt.Println("loss went down:", sum.FinalLoss < sum.History.Steps[0].Loss)
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// steps: 10
	// loss went down: true
	// adapter_config.json
	// adapter_model.safetensors
}
