package model

import (
	"slices"
	"testing"

	"github.com/golora/golora/internal/testutil"
)

// fixtureIDs is a fixture's inputs.json, rows concatenated.
func fixtureIDs(t *testing.T, dir string) []int {
	t.Helper()
	return slices.Concat(testutil.InputIDs(t, dir)...)
}
