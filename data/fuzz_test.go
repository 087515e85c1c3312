package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// FuzzJSONL feeds arbitrary bytes to the loader (and what it loads to the
// batcher): no panic, and every result keeps the package's invariants.
func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"text":"abc"}`,
		`{"prompt":"Q: 1+1?\nA:","completion":" 2"}`,
		`{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"H"}]},{"role":"assistant","content":"x"}]}`,
		`{"input_ids":[1,2,3],"labels":[-100,2,3]}`,
		`{"prompt":[{"role":"user","content":"a"}],"completion":[{"role":"assistant","content":"b"}]}`,
		"{\"text\":\"a\"}\r\n\n{\"text\":\"b\"}",
		"\xef\xbb\xbf{\"text\":\"\\u00e9\"}",
		`{"text":"a","messages":[]}`,
		`[1,2]`,
		`{"input_ids":[1,2.5]}`,
		"\x1f\x8b\x08\x00",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	tok := newFakeTok("\nHi", "!<|")
	chunkLines = 2 // so that short inputs still spread over the workers
	f.Fuzz(func(t *testing.T, in []byte, skip bool) {
		opts := Options{SkipBad: skip, Template: ChatML{}, MaxSeqLen: 64, Workers: 1}
		ds, st, err := LoadReader(bytes.NewReader(in), "fuzz.jsonl", tok, opts)
		opts.Workers = 3
		pds, pst, perr := LoadReader(bytes.NewReader(in), "fuzz.jsonl", tok, opts)
		if fmt.Sprint(err) != fmt.Sprint(perr) || !reflect.DeepEqual(st, pst) || (err == nil && !reflect.DeepEqual(ds, pds)) {
			t.Fatalf("parallel load differs: %v %v, serial %v %v", perr, pst, err, st)
		}
		if err != nil {
			var le *LineError
			if errors.As(err, &le) && (le.Line < 1 || le.Reason == "") {
				t.Fatalf("line error without a position or reason: %#v", le)
			}
			return
		}
		if st.Examples != ds.Len() || (skip && st.Examples+st.Skipped+st.NoLoss != st.Lines) ||
			(!skip && st.Examples+st.NoLoss != st.Lines) {
			t.Fatalf("stats %+v for %d examples", st, ds.Len())
		}
		tokens, loss := 0, 0
		for i, e := range ds.Examples {
			if len(e.Tokens) != len(e.Labels) || len(e.Tokens) > opts.MaxSeqLen || e.LossTokens() == 0 {
				t.Fatalf("example %d: %d tokens, %d labels, %d with loss", i, len(e.Tokens), len(e.Labels), e.LossTokens())
			}
			for _, l := range e.Labels {
				if l != IgnoreIndex && (l < 0 || l >= tok.VocabSize()) {
					t.Fatalf("example %d: label %d", i, l)
				}
			}
			tokens += len(e.Tokens)
			loss += e.LossTokens()
		}
		if tokens != st.Tokens || loss != st.LossTokens {
			t.Fatalf("stats %+v, counted %d tokens %d with loss", st, tokens, loss)
		}
		if ds.Len() == 0 {
			return
		}
		it, err := NewIterator(ds.Examples, BatchOptions{BatchSize: 2, SeqLen: 8, Pack: true, Shuffle: true})
		if err != nil {
			for _, e := range ds.Examples {
				n := min(len(e.Tokens), 9)
				if (Example{Tokens: e.Tokens[:n], Labels: e.Labels[:n]}).LossTokens() > 0 {
					t.Fatal(err)
				}
			}
			return
		}
		for range 3 {
			it.Next()
		}
	})
}

// FuzzFastInts checks the integer-array fast path against encoding/json on
// every input that is valid JSON: it may decline, but never disagree.
func FuzzFastInts(f *testing.F) {
	for _, s := range []string{`[]`, `[1,2,3]`, ` [ -1 , 0,7 ] `, `[1.5]`, `[1e3]`, `[99999999999999999999]`, `["a"]`, `[1,]`, `[-]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return
		}
		got, ok := fastInts(in)
		if !ok {
			return
		}
		var want []int
		if err := json.Unmarshal(in, &want); err != nil {
			t.Fatalf("fastInts(%q) = %v, json: %v", in, got, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("fastInts(%q) = %v, json %v", in, got, want)
		}
	})
}
