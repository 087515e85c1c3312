package experiment

import (
	"path/filepath"
	"testing"
)

// FuzzParse: any sweep YAML either fails to parse or names only paths
// that stay inside --out, and expands without panicking (within a bounded
// grid: huge grids are the caller's to refuse by size).
func FuzzParse(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input it finds, which
	// for a whole built-in sweep takes longer than CI's few seconds.
	f.Add([]byte("name: x\ntask: kjv-nt\naxes: [{key: lr, values: [1, 2]}]\nplots: [{type: final, x: lr, file: a.png}]"))
	f.Add([]byte("name: ../x\ntask: kjv-nt"))
	f.Add([]byte("task: kjv-nt\nseeds: 3\ntrain: {r: 4, lr: 1e-3}\naxes: [{name: m, variants: [{label: a, set: {method: dora}}]}]\nquick: {seeds: 1, axes: [{name: m, variants: [{label: a, set: {r: 2}}]}]}\nplots: [{type: curves, series: m, file: c.png}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b, "fuzz.yaml")
		if err != nil {
			return
		}
		out := filepath.FromSlash("/out")
		for _, p := range append([]string{s.Name}, plotFiles(s)...) {
			if full := filepath.Join(out, p); filepath.Dir(full) != out {
				t.Fatalf("%q leaves the output folder", p)
			}
		}
		if runs, err := s.Runs(); err == nil && len(runs) > maxRuns {
			t.Fatalf("%d runs past the limit of %d", len(runs), maxRuns)
		}
	})
}

func plotFiles(s *Sweep) []string {
	var fs []string
	for _, p := range s.Plots {
		if p.File != "" {
			fs = append(fs, p.File)
		}
	}
	return fs
}
