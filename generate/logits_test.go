package generate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/golora/golora/model"
)

// TestRunLogits checks Options.Logits: one row per position fed (a prompt
// longer than one prefill chunk, then every generated token but the last),
// each equal to a full causal forward's row for that position; WriteLogits'
// bytes; and that an error from Logits stops Run with it.
func TestRunLogits(t *testing.T) {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config().VocabSize
	prompt := []int{1}
	for i := 1; i < PrefillChunk+6; i++ {
		prompt = append(prompt, 3+(i*37)%500)
	}
	var rows [][]float32
	var buf bytes.Buffer
	write := WriteLogits(&buf)
	got, err := Run(m, prompt, Options{MaxNew: 4, IgnoreEOS: true, Logits: func(row []float32) error {
		rows = append(rows, append([]float32(nil), row...))
		return write(row)
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := append(append([]int(nil), prompt...), got[:len(got)-1]...)
	if len(rows) != len(seq) {
		t.Fatalf("%d logits rows for %d positions fed", len(rows), len(seq))
	}
	want := m.Forward(seq, 1, len(seq))
	for p, row := range rows {
		scale := 0.0
		for _, v := range want[p*V : (p+1)*V] {
			scale = max(scale, math.Abs(float64(v)))
		}
		for v, x := range row {
			if d := math.Abs(float64(x - want[p*V+v])); d > 1e-4*scale {
				t.Fatalf("position %d, token %d: logit %g, full forward %g", p, v, x, want[p*V+v])
			}
		}
		if p >= len(prompt)-1 && Argmax(row) != got[p-len(prompt)+1] {
			t.Fatalf("position %d: argmax %d, generated %d", p, Argmax(row), got[p-len(prompt)+1])
		}
	}
	b := buf.Bytes()
	if len(b) != 4*V*len(rows) {
		t.Fatalf("WriteLogits wrote %d bytes for %d rows of %d", len(b), len(rows), V)
	}
	for i, x := range rows[len(rows)-1] {
		if y := math.Float32frombits(binary.LittleEndian.Uint32(b[4*((len(rows)-1)*V+i):])); y != x {
			t.Fatalf("WriteLogits: value %d of the last row read back as %g, not %g", i, y, x)
		}
	}
	stop := errors.New("disk full")
	n := 0
	if _, err := Run(m, prompt, Options{MaxNew: 4, Logits: func([]float32) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	}}, nil); !errors.Is(err, stop) {
		t.Fatalf("Logits error: Run returned %v", err)
	}
}
