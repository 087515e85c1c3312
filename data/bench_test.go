package data

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchJSONL builds about size bytes of JSONL mixing the four record shapes.
func benchJSONL(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("once upon a time there was a little cat named Tom who liked to sit in the sun and " +
		"watch the birds sing their songs every morning by the old window of the house")
	sentence := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "{\"text\": %q}\n", sentence(150))
		case 1:
			fmt.Fprintf(&b, "{\"prompt\": %q, \"completion\": %q}\n", sentence(40), sentence(60))
		case 2:
			fmt.Fprintf(&b, "{\"messages\": [{\"role\": \"system\", \"content\": %q}, {\"role\": \"user\", \"content\": %q}, "+
				"{\"role\": \"assistant\", \"content\": %q}, {\"role\": \"user\", \"content\": %q}, {\"role\": \"assistant\", \"content\": %q}]}\n",
				sentence(10), sentence(30), sentence(50), sentence(20), sentence(40))
		case 3:
			b.WriteString("{\"input_ids\": [")
			for j := range 300 {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprint(&b, r.IntN(256))
			}
			b.WriteString("]}\n")
		}
	}
	return b.Bytes()
}

// BenchmarkLoad loads and tokenizes 10 MB of mixed JSONL with the byte
// tokenizer, so the figure is the pipeline's own cost, not a tokenizer's.
// Serial and parallel side by side (workers=0 is GOMAXPROCS).
func BenchmarkLoad(b *testing.B) {
	in := benchJSONL(10 << 20)
	for _, w := range []int{1, 0} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				_, st, err := LoadReader(bytes.NewReader(in), "bench.jsonl", byteTok{}, Options{Template: ChatML{}, Workers: w})
				if err != nil || st.Examples == 0 {
					b.Fatal(err, st)
				}
			}
		})
	}
}

func BenchmarkIterator(b *testing.B) {
	ds, _, err := LoadReader(bytes.NewReader(benchJSONL(2<<20)), "bench.jsonl", byteTok{}, Options{Template: ChatML{}})
	if err != nil {
		b.Fatal(err)
	}
	it, err := NewIterator(ds.Examples, BatchOptions{BatchSize: 8, SeqLen: 1024, Pack: true, Shuffle: true})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(8 * 1024 * 8) // ids bytes per batch
	for b.Loop() {
		it.Next()
	}
}
