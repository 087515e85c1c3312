package llama

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func fixtureIDs(t *testing.T, dir string) []int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		InputIDs [][]int `json:"input_ids"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, r := range in.InputIDs {
		ids = append(ids, r...)
	}
	return ids
}
