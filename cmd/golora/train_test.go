package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainCommand runs `golora train` end to end on the embedded model and
// demo data, with a YAML file under a flag, and checks what it leaves in
// --out. (One Execute per process: cobra keeps flag state between runs.)
func TestTrainCommand(t *testing.T) {
	out := t.TempDir()
	yml := filepath.Join(out, "run.yaml")
	if err := os.WriteFile(yml, []byte("steps: 50\nr: 4\nseq-len: 64\nbatch: 2\ncheckpointing: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rootCmd.SetOut(&buf)
	rootCmd.SetArgs([]string{"train", "--config", yml, "--steps", "6", "--eval-every", "3", "--num-layers", "2", "--out", out})
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	log := buf.String()
	for _, want := range []string{"step 6/6", "val_loss", "trainable parameters:", "validation loss:"} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "loss.png", "checkpoints/latest"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	var ac struct {
		R      int   `json:"r"`
		Layers []int `json:"layers_to_transform"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	if err := json.Unmarshal(b, &ac); err != nil || ac.R != 4 {
		t.Errorf("adapter_config.json r = %d (%v), want 4 from the YAML file", ac.R, err)
	}
	// --num-layers 2 of the embedded model's 5 blocks
	if len(ac.Layers) != 2 || ac.Layers[0] != 3 || ac.Layers[1] != 4 {
		t.Errorf("adapter_config.json layers_to_transform %v, want [3 4] from --num-layers 2", ac.Layers)
	}
	lines := strings.Split(strings.TrimSpace(trainTestRead(t, filepath.Join(out, "metrics.jsonl"))), "\n")
	if len(lines) != 6+3 { // 6 steps, evals at 0, 3, 6
		t.Errorf("metrics.jsonl has %d lines, want 9", len(lines))
	}
}

func trainTestRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPretrainCommand trains a tiny model from scratch and checks that the
// result is a loadable Hugging Face folder of the requested shape.
func TestPretrainCommand(t *testing.T) {
	out := t.TempDir()
	var buf bytes.Buffer
	rootCmd.SetOut(&buf)
	rootCmd.SetArgs([]string{"pretrain", "--layers", "2", "--hidden", "32", "--heads", "2", "--steps", "4",
		"--seq-len", "32", "--batch", "2", "--eval-every", "0", "--out", out})
	if err := rootCmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	m, err := loadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Config(); c.NumHiddenLayers != 2 || c.HiddenSize != 32 || c.VocabSize != 512 {
		t.Errorf("saved model shape: %d layers, hidden %d, vocab %d", c.NumHiddenLayers, c.HiddenSize, c.VocabSize)
	}
}
