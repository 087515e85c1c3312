package model

import (
	"testing"
)

// Benchmark models: GPT-2-small-like and Llama-like blocks at reduced depth
// and vocabulary so a run takes seconds on two cores.
func benchConfigs() map[string]*Config {
	return map[string]*Config{
		"gpt2": {ModelType: "gpt2", VocabSize: 4096, NEmbd: 384, NLayer: 4, NHead: 6, NPositions: 1024},
		"llama": {ModelType: "llama", VocabSize: 4096, HiddenSize: 384, IntermediateSize: 1024, NumHiddenLayers: 4,
			NumAttentionHeads: 6, NumKeyValueHeads: 2, MaxPositionEmbeddings: 1024},
	}
}

func benchModel(b *testing.B, name string) (Model, []int, []int, int, int) {
	m, err := NewRandom(benchConfigs()[name], 1)
	if err != nil {
		b.Fatal(err)
	}
	B, T := 2, 128
	ids := make([]int, B*T)
	targets := make([]int, B*T)
	for i := range ids {
		ids[i] = (i * 7919) % m.Config().VocabSize
		targets[i] = (i*104729 + 3) % m.Config().VocabSize
	}
	return m, ids, targets, B, T
}

func BenchmarkForward(b *testing.B) {
	for _, name := range []string{"gpt2", "llama"} {
		b.Run(name, func(b *testing.B) {
			m, ids, _, B, T := benchModel(b, name)
			m.Forward(ids, B, T)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Forward(ids, B, T)
			}
			b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkBackward times a full fine-tuning step's Loss+Backward (every
// weight trainable) and a LoRA-like one (base frozen).
func BenchmarkBackward(b *testing.B) {
	for _, name := range []string{"gpt2", "llama"} {
		for _, mode := range []string{"full", "frozen"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				m, ids, targets, B, T := benchModel(b, name)
				if mode == "full" {
					m.SetTrainable(func(string) bool { return true })
				}
				m.Loss(ids, targets, B, T)
				m.Backward()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					m.Loss(ids, targets, B, T)
					m.Backward()
				}
				b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}

// BenchmarkDecode times one-token steps of 4 rows against a 128-token cache.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"gpt2", "llama"} {
		b.Run(name, func(b *testing.B) {
			m, ids, _, _, _ := benchModel(b, name)
			const rows, prompt = 4, 128
			c := m.NewCache(rows, prompt+1)
			step := make([][]int, rows)
			for r := range step {
				step[r] = ids[:prompt]
			}
			if _, err := m.Step(c, step); err != nil {
				b.Fatal(err)
			}
			for r := range step {
				step[r] = ids[r : r+1]
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for r := 0; r < rows; r++ {
					c.Truncate(r, prompt)
				}
				if _, err := m.Step(c, step); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkStoriesDecode times single-row decoding of the embedded model,
// dominated by per-step overhead rather than arithmetic.
func BenchmarkStoriesDecode(b *testing.B) {
	m, err := Load("")
	if err != nil {
		b.Fatal(err)
	}
	c := m.NewCache(1, 512)
	if _, err := m.Step(c, [][]int{{1}}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c.Len(0) == 256 {
			c.Truncate(0, 1)
		}
		if _, err := m.Step(c, [][]int{{403}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
