// Package lora is LoRA with PEFT's semantics and file format: a frozen
// linear layer W0 gets
//
//	h = W0·x + s·B·A·dropout(x)    A (r, in), B (out, r), s = lora_alpha/r (or /√r, rsLoRA)
//
// with W0·x and B·(A·x) computed side by side; W0 + s·B·A is formed only
// when merging. The files are laid out by role:
//
//	config.go      PEFT's LoraConfig (adapter_config.json), targeting, rank/alpha patterns
//	linear.go      Adapter: plain LoRA forward, backward, merge (the math, in one file)
//	variant.go     the Variant interface and its table; dora.go is DoRA
//	init.go        one function per initialisation (Init[A], gaussian, Init[B], false, PiSSA, OLoRA)
//	set.go         per-layer state: the adapters on one layer, the nn.Delta, per-row routing
//	model.go       Model: named adapters over one base (add, activate, disable, delete, merge)
//	params.go      trainable tensors, LoRA+ groups, PEFT's summary line
//	weighted.go    weighted combination of adapters (linear, cat, svd)
//	save.go        PEFT's adapter_config.json + adapter_model.safetensors
//	bottleneck.go  bottleneck adapters (Houlsby) as nn.SublayerHook, golora's own format
//	embedding.go   the token embedding as nn.EmbeddingDelta: LoRA on it, modules_to_save, trainable tokens
//	strict.go      names that must match, refused PEFT features, the recorded base
//
// Model families never import lora: the model lists its linear layers by
// PEFT module name (Target) and lora installs a Set as each targeted layer's
// nn.Delta.
package lora
