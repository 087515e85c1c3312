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
