package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// readJSON decodes the JSON file at path into v, failing the test on error.
func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// InputIDs reads a base fixture's inputs.json: B rows of T token ids.
func InputIDs(t testing.TB, dir string) [][]int {
	t.Helper()
	var in struct {
		InputIDs [][]int `json:"input_ids"`
	}
	readJSON(t, filepath.Join(dir, "inputs.json"), &in)
	if len(in.InputIDs) == 0 || len(in.InputIDs[0]) == 0 {
		t.Fatalf("%s: no input_ids", filepath.Join(dir, "inputs.json"))
	}
	return in.InputIDs
}

// CausalBatch flattens a fixture's inputs.json into row-major (B, T) ids and
// the targets of HF's causal-LM loss with labels = input_ids: row[t+1], and
// ignore (model.IgnoreIndex, passed in to avoid an import cycle) at each
// row's last position.
func CausalBatch(t testing.TB, dir string, ignore int) (ids, targets []int, B, T int) {
	t.Helper()
	rows := InputIDs(t, dir)
	B, T = len(rows), len(rows[0])
	for _, row := range rows {
		ids = append(ids, row...)
		for i := range row {
			if i+1 < len(row) {
				targets = append(targets, row[i+1])
			} else {
				targets = append(targets, ignore)
			}
		}
	}
	return ids, targets, B, T
}

// ReferenceLoss is the float64 "loss" of a fixture's reference.json.
func ReferenceLoss(t testing.TB, dir string) float64 {
	t.Helper()
	var r struct {
		Loss float64 `json:"loss"`
	}
	readJSON(t, filepath.Join(dir, "reference.json"), &r)
	return r.Loss
}

// StoriesRow is one position of run.c's reference logits for stories260K.
type StoriesRow struct {
	Pos        int       `json:"pos"`
	InputToken int       `json:"input_token"`
	Logits     []float64 `json:"logits"`
}

// StoriesLogits reads llama2.c run.c's logits for "Once upon a time" on
// stories260K, one row per position (found as Shared finds references).
func StoriesLogits(t testing.TB) []StoriesRow {
	t.Helper()
	var ref struct {
		Rows []StoriesRow `json:"rows"`
	}
	readJSON(t, Shared(t, "models", "stories260K", "reference", "logits_once_upon_a_time_pos0-4.json"), &ref)
	return ref.Rows
}

// Transpose returns the row-major (rows, cols) matrix x as (cols, rows):
// GPT-2's Conv1D [in, out] against nn.Linear's [out, in].
func Transpose(x []float32, rows, cols int) []float32 {
	y := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			y[j*rows+i] = x[i*cols+j]
		}
	}
	return y
}
