package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSplits(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := range 20 {
		lines = append(lines, `{"text":"story `+strings.Repeat("x", i+1)+`"}`)
	}
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines[:n], "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	train := write("train.jsonl", 20)
	valid := write("valid.jsonl", 3)
	tok := newFakeTok()
	tests := []struct {
		name             string
		train, valid     string
		fraction         float64
		wantTrain, wantV int
		wantErr          bool
	}{
		{"file", train, valid, 0, 20, 3, false},
		{"fraction", train, "", 0.25, 15, 5, false},
		{"none", train, "", 0, 20, 0, false},
		{"directory", dir, "", 0, 20, 3, false},
		{"directory with fraction", dir, "", 0.1, 18, 2, false},
		{"both", train, valid, 0.1, 0, 0, true},
		{"missing", filepath.Join(dir, "nope.jsonl"), "", 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadSplits(tc.train, tc.valid, tc.fraction, 1, tok, Options{})
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Train.Len() != tc.wantTrain || s.Valid.Len() != tc.wantV {
				t.Errorf("%d train, %d valid; want %d, %d", s.Train.Len(), s.Valid.Len(), tc.wantTrain, tc.wantV)
			}
		})
	}
}

// TestSplitKeepsLines: each example's file line follows it through Split,
// so messages can name it (Dataset.Where).
func TestSplitKeepsLines(t *testing.T) {
	text := "{\"text\":\"a\"}\n\n{\"text\":\"b\"}\n{\"text\":\"c\"}\n{\"text\":\"d\"}\n"
	ds, _, err := LoadReader(strings.NewReader(text), "t.jsonl", newFakeTok(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join([]string{ds.Where(0), ds.Where(1), ds.Where(3)}, ","); got != "line 1,line 3,line 5" {
		t.Errorf("Where = %s", got)
	}
	tr, va, err := ds.Split(0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []*Dataset{tr, va} {
		for i, e := range part.Examples {
			line := part.Lines[i]
			if want := ds.Examples[map[int]int{1: 0, 3: 1, 4: 2, 5: 3}[line]]; e.Tokens[len(e.Tokens)-2] != want.Tokens[len(want.Tokens)-2] {
				t.Errorf("%s: example %d says line %d but holds another record", part.Name, i, line)
			}
		}
	}
	if (&Dataset{Examples: ds.Examples}).Where(2) != "example #3" {
		t.Error("Where without lines should count examples from 1")
	}
}
