package data

import (
	"bytes"
	"embed"
	"io/fs"
	"sort"
)

//go:embed demo/*.jsonl
var demoFS embed.FS

// DemoFS returns the embedded demo files (demo/*.jsonl), for commands that
// want the raw text.
func DemoFS() fs.FS {
	sub, err := fs.Sub(demoFS, "demo")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Demo loads the embedded demo dataset (every demo/*.jsonl, in name order) so
// that golora can train without any file at hand.
func Demo(tok Encoder, opts Options) (*Dataset, Stats, error) {
	names, err := fs.Glob(demoFS, "demo/*.jsonl")
	if err != nil {
		return nil, Stats{}, err
	}
	sort.Strings(names)
	all := &Dataset{Name: "demo"}
	var st Stats
	for _, name := range names {
		b, err := demoFS.ReadFile(name)
		if err != nil {
			return nil, st, err
		}
		ds, s, err := LoadReader(bytes.NewReader(b), name, tok, opts)
		if err != nil {
			return nil, st, err
		}
		all.Examples = append(all.Examples, ds.Examples...)
		st.add(s)
	}
	return all, st, nil
}
