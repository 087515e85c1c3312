package lora_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"

	"github.com/golora/golora/lora"
	"github.com/golora/golora/model"
)

// Adding a LoRA adapter on the attention's q and v projections, as PEFT's
// get_peft_model does, and saving it in PEFT's layout. B starts at zero, so
// the adapted model computes what the base computes until it is trained.
func ExampleModel_Add() {
	m, err := model.Load("")
	if err != nil {
		log.Fatal(err)
	}
	ids := []int{1, 403, 407}
	before := slices.Clone(m.Forward(ids, 1, len(ids)))

	cfg := lora.DefaultConfig()
	cfg.R, cfg.LoraAlpha = 4, 8
	cfg.TargetModules = lora.List("q_proj", "v_proj")
	adapters := lora.ForModel(m)
	if err := adapters.Add("default", cfg, "", 1); err != nil {
		log.Fatal(err)
	}
	fmt.Println(adapters.Summary())
	fmt.Println("logits unchanged:", slices.Equal(m.Forward(ids, 1, len(ids)), before))

	dir, err := os.MkdirTemp("", "adapter")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := adapters.Save(dir); err != nil {
		log.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// trainable params: 4,480 || all params: 264,512 || trainable%: 1.6937
	// logits unchanged: true
	// adapter_config.json
	// adapter_model.safetensors
}

// Attaching saved adapters for inference, as golora generate --adapter A,B
// does: the base is frozen, every adapter is active, and an adapter trained
// on another base than the one loaded gets a warning to show the user.
func ExampleAttach() {
	dir, err := os.MkdirTemp("", "adapter")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	trained, err := model.Load("")
	if err != nil {
		log.Fatal(err)
	}
	cfg := lora.DefaultConfig()
	cfg.TargetModules = lora.List("q_proj", "v_proj")
	cfg.BaseModelNameOrPath = "Qwen/Qwen3-0.6B" // not the model loaded below
	lm := lora.ForModel(trained)
	if err := lm.Add(lora.DefaultName, cfg, "", 1); err != nil {
		log.Fatal(err)
	}
	if err := lm.Save(dir); err != nil {
		log.Fatal(err)
	}

	m, err := model.Load("") // the embedded stories260K
	if err != nil {
		log.Fatal(err)
	}
	embedded := ""
	adapters, warnings, err := lora.Attach(m, []string{dir}, &embedded)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("active:", adapters.ActiveNames())
	fmt.Println("warnings:", len(warnings))
	// Output:
	// active: [default]
	// warnings: 1
}
