package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golora/golora/format/safetensors"
	"github.com/golora/golora/model"
	"github.com/golora/golora/tensor"
)

// tinyModelDir saves a random tiny Llama with no tokenizer.
func tinyModelDir(t *testing.T) string {
	t.Helper()
	m, err := model.NewRandom(&model.Config{ModelType: "llama", VocabSize: 61, HiddenSize: 32, IntermediateSize: 48,
		NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64}, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.SaveHF(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEvalIDsPastVocab is issue 12's repro 6: input_ids past the vocabulary
// of a model without a tokenizer are a line error, not a panic.
func TestEvalIDsPastVocab(t *testing.T) {
	dir := tinyModelDir(t)
	data := filepath.Join(t.TempDir(), "d.jsonl")
	os.WriteFile(data, []byte("{\"input_ids\": [1, 2, 3]}\n{\"input_ids\": [1, 999999]}\n"), 0o644)
	_, err := runGoloraErr("eval", "--model", dir, "--data", data)
	if err == nil || !strings.Contains(err.Error(), "999999") || !strings.Contains(err.Error(), ":2") {
		t.Errorf("err = %v, want a line-2 error naming the id", err)
	}
}

// TestGenerateLimits is repro 8: --max-new-tokens -5 and a limit past the
// context are errors.
func TestGenerateLimits(t *testing.T) {
	for _, tc := range []struct{ args, want []string }{
		{[]string{"--max-new-tokens", "-5"}, []string{"--max-new-tokens -5"}},
		{[]string{"--max-new-tokens", "600"}, []string{"512 positions", "at most 509"}},
		{[]string{"--max-tokens", "600"}, []string{"512 positions"}},
	} {
		args := append([]string{"generate", "--prompt-ids", "1,403,407", "--temperature", "0"}, tc.args...)
		_, err := runGoloraErr(args...)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: err = %v, want %q", tc.args, err, w)
			}
		}
	}
}

// TestMergeRefusesItsInput is repro 8: merge --out equal to --model (or an
// adapter folder) is refused and the base is untouched.
func TestMergeRefusesItsInput(t *testing.T) {
	base := tinyModelDir(t)
	adapter := t.TempDir()
	if _, err := runGoloraErr("train", "--steps", "1", "--seq-len", "16", "--batch", "1", "--out", adapter); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(base, "model.safetensors"))
	for _, args := range [][]string{
		{"merge", "--model", base, "--adapter", adapter, "--out", base},
		{"merge", "--adapter", adapter, "--out", adapter},
	} {
		if _, err := runGoloraErr(args...); err == nil || !strings.Contains(err.Error(), "overwrite") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(base, "model.safetensors")); !bytes.Equal(before, after) {
		t.Error("the base model was changed")
	}
}

// TestInspectSanitises is repro 8: tensor names with terminal escapes are
// printed escaped, and a megabyte-long name does not blow up the output.
func TestInspectSanitises(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	ts := map[string]*tensor.Tensor{"\x1b]0;pwned\x07\x1b[31mred": tensor.New(2)}
	long := strings.Repeat("n", 1<<20)
	for i := 0; i < 23; i++ {
		ts[long+string(rune('a'+i))] = tensor.New(1)
	}
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	out, err := runGoloraErr("inspect", path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `\x1b[31mred`) {
		t.Errorf("escapes not neutralised: %q", out[:min(len(out), 300)])
	}
	if len(out) > 64<<10 {
		t.Errorf("inspect printed %d bytes for 24 tensors", len(out))
	}
	if !strings.Contains(out, "bytes)") {
		t.Error("a cut name does not say how long it was")
	}
}

// TestTrainRefusesUsedFolder is repro 2 at the command line.
func TestTrainRefusesUsedFolder(t *testing.T) {
	out := t.TempDir()
	args := []string{"train", "--steps", "1", "--seq-len", "16", "--batch", "1", "--out", out}
	if _, err := runGoloraErr(args...); err != nil {
		t.Fatal(err)
	}
	if _, err := runGoloraErr(args...); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("second fresh train: %v", err)
	}
	if _, err := runGoloraErr(append(args, "--overwrite")...); err != nil {
		t.Errorf("--overwrite: %v", err)
	}
}

// TestTrainResumeNoIntactCheckpoint is repro 1 at the command line: with a
// file missing from every checkpoint, --resume fails and deletes nothing.
func TestTrainResumeNoIntactCheckpoint(t *testing.T) {
	out := t.TempDir()
	if _, err := runGoloraErr("train", "--steps", "4", "--save-every", "2", "--seed", "3", "--seq-len", "16", "--batch", "1", "--out", out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"step-000002", "step-000004"} {
		if err := os.Remove(filepath.Join(out, "checkpoints", s, "adapter_model.safetensors")); err != nil {
			t.Fatal(err)
		}
	}
	log, err := runGoloraErr("train", "--resume", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "no intact checkpoint") || strings.Contains(log, "step 1/") {
		t.Fatalf("--resume with no intact checkpoint: %v\n%s", err, log)
	}
	for _, s := range []string{"step-000002", "step-000004"} {
		if _, err := os.Stat(filepath.Join(out, "checkpoints", s, "trainer_state.safetensors")); err != nil {
			t.Errorf("checkpoint %s was deleted: %v", s, err)
		}
	}
}
