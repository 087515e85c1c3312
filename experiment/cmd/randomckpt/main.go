// Command randomckpt writes a Hugging Face model folder (config.json +
// model.safetensors) with golora's random init (normal(0, 0.02) matrices)
// for a config.json, stored as F32, BF16 or F16, without ever holding a
// 16-bit model in float32: benchmark checkpoints of real shapes (the peak
// RSS of Llama-3.2-1B's shape in docs/BENCHMARKS.md) without a model hub.
//
//	go run ./experiment/cmd/randomckpt CONFIG.json DTYPE OUTDIR
package main

import (
	"fmt"
	"os"

	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: randomckpt CONFIG.json f32|bf16|f16 OUTDIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "randomckpt:", err)
		os.Exit(1)
	}
}

func run(cfgPath, dtype, out string) error {
	js, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	cfg, err := model.ParseConfig(js, cfgPath)
	if err != nil {
		return err
	}
	dt, err := tensor.ParseDType(dtype)
	if err != nil {
		return err
	}
	m, err := model.NewRandomDType(cfg, 1, dt)
	if err != nil {
		return err
	}
	return model.SaveHFDType(m, out, dt)
}
