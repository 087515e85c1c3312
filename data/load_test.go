package data

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// mixedJSONL is n lines of every shape with some bad and blank lines.
func mixedJSONL(n int, seed uint64, bad bool) string {
	r := rand.New(rand.NewPCG(seed, 9))
	var b strings.Builder
	for i := range n {
		switch k := r.IntN(7); {
		case k == 0:
			fmt.Fprintf(&b, "{\"text\":\"line %d %s\"}\n", i, strings.Repeat("x", r.IntN(30)))
		case k == 1:
			fmt.Fprintf(&b, "{\"prompt\":\"p%d\",\"completion\":\" c%s\"}\n", i, strings.Repeat("y", r.IntN(30)))
		case k == 2:
			fmt.Fprintf(&b, "{\"messages\":[{\"role\":\"user\",\"content\":\"u%d\"},{\"role\":\"assistant\",\"content\":\"a%d\"}]}\n", i, i)
		case k == 3:
			fmt.Fprintf(&b, "{\"input_ids\":[%d,%d,%d]}\n", i%200, 7, 8)
		case k == 4:
			b.WriteString("\n")
		case k == 5 && bad:
			fmt.Fprintf(&b, "{\"oops\":%d}\n", i)
		default:
			fmt.Fprintf(&b, "{\"text\":\"%d\"}\n", i)
		}
	}
	return b.String()
}

// Parallel loading gives the serial result, errors included, whatever the
// chunking.
func TestParallelMatchesSerial(t *testing.T) {
	defer func(l, b int) { chunkLines, chunkBytes = l, b }(chunkLines, chunkBytes)
	tok := newFakeTok()
	for _, bad := range []bool{false, true} {
		in := mixedJSONL(500, 1, bad)
		for _, skip := range []bool{false, true} {
			opts := Options{Template: ChatML{}, SkipBad: skip, MaxSeqLen: 20, Workers: 1}
			wantDS, wantSt, wantErr := load(t, in, tok, opts)
			for _, chunk := range [][2]int{{1, 1 << 20}, {3, 1 << 20}, {256, 100}, {256, 1 << 20}} {
				chunkLines, chunkBytes = chunk[0], chunk[1]
				for _, w := range []int{2, 4} {
					opts.Workers = w
					ds, st, err := load(t, in, tok, opts)
					if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(st, wantSt) ||
						(err == nil && !reflect.DeepEqual(ds, wantDS)) {
						t.Fatalf("bad %v skip %v chunk %v workers %d: err %v stats %v; serial err %v stats %v",
							bad, skip, chunk, w, err, st, wantErr, wantSt)
					}
				}
			}
		}
	}
}

type panicky struct{ byteTok }

func (panicky) Encode(s string) []int {
	if s == "boom" {
		panic("encoder bug")
	}
	return byteTok{}.Encode(s)
}

// A panicking Encoder panics in the caller's goroutine, as it would serially,
// not in a worker where nothing could recover it.
func TestParallelPanic(t *testing.T) {
	defer func(l int) { chunkLines = l }(chunkLines)
	chunkLines = 2
	in := strings.Repeat("{\"text\":\"ok\"}\n", 9) + "{\"text\":\"boom\"}\n" + strings.Repeat("{\"text\":\"ok\"}\n", 9)
	defer func() {
		if p := recover(); p != "encoder bug" {
			t.Fatalf("recovered %v", p)
		}
	}()
	load(t, in, panicky{}, Options{Workers: 3})
	t.Fatal("no panic")
}

// TestLoadWithoutTokenizer: with no tokenizer, input_ids records load as
// they are (checked against Options.VocabSize), and a text record is an
// error naming its line and the fix, even with SkipBad.
func TestLoadWithoutTokenizer(t *testing.T) {
	ds, st, err := LoadReader(strings.NewReader(`{"input_ids": [1, 5, 9]}`+"\n"+`{"input_ids": [2, 3], "labels": [-100, 3]}`+"\n"), "ids.jsonl", nil, Options{VocabSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{{Tokens: []int{1, 5, 9}, Labels: []int{1, 5, 9}}, {Tokens: []int{2, 3}, Labels: []int{-100, 3}}}
	if !reflect.DeepEqual(ds.Examples, want) || st.Kinds[KindTokens] != 2 {
		t.Errorf("examples %v (%v), want %v", ds.Examples, st, want)
	}
	if _, _, err := LoadReader(strings.NewReader(`{"input_ids": [1, 10]}`+"\n"), "ids.jsonl", nil, Options{VocabSize: 10}); err == nil || !strings.Contains(err.Error(), "[0, 10)") {
		t.Errorf("id past VocabSize: %v", err)
	}
	_, _, err = LoadReader(strings.NewReader(`{"input_ids": [1, 5]}`+"\n"+`{"text": "hi"}`+"\n"), "mixed.jsonl", nil, Options{SkipBad: true})
	if err == nil || !strings.Contains(err.Error(), "mixed.jsonl:2") || !strings.Contains(err.Error(), "needs a tokenizer") {
		t.Errorf("text record without a tokenizer: %v", err)
	}
}
