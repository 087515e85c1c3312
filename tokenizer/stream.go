package tokenizer

import "unicode/utf8"

// StreamDecoder decodes ids one at a time, as a generator produces them, and
// returns text only when it is complete UTF-8: a token that ends in the
// middle of a multi-byte character (byte-level BPE and <0xNN> byte fallback
// both do this for emoji and CJK) is held back until the rest arrives. The
// concatenation of everything Add and Flush return equals Decode(all ids).
type StreamDecoder struct {
	t       Tokenizer
	p       piecer
	prev    int
	pending []byte
	// For tokenizers of other packages: all ids so far and how many bytes
	// of their Decode were returned.
	ids  []int
	sent int
}

// NewStreamDecoder returns a decoder for the ids of t.
func NewStreamDecoder(t Tokenizer) *StreamDecoder {
	d := &StreamDecoder{t: t, prev: -1}
	d.p, _ = t.(piecer)
	return d
}

// Add decodes id and returns the text that is now complete (maybe "").
func (d *StreamDecoder) Add(id int) string {
	if d.p == nil {
		d.ids = append(d.ids, id)
		full := d.t.Decode(d.ids)
		if len(full) < d.sent {
			return "" // the tokenizer rewrote earlier text; nothing new to emit
		}
		d.pending = append(d.pending[:0], full[d.sent:]...)
	} else {
		d.pending = d.p.appendPiece(d.pending, id, d.prev)
		d.prev = id
	}
	n := completePrefix(d.pending)
	out := string(d.pending[:n])
	if d.p == nil {
		d.sent += n
		d.pending = d.pending[:0]
	} else {
		d.pending = append(d.pending[:0], d.pending[n:]...)
	}
	return out
}

// Flush returns the bytes held back (an incomplete character at the end of
// the stream) and resets the decoder for a new sequence.
func (d *StreamDecoder) Flush() string {
	var out string
	if d.p == nil {
		full := d.t.Decode(d.ids)
		if len(full) > d.sent {
			out = full[d.sent:]
		}
	} else {
		out = string(d.pending)
	}
	d.pending, d.ids, d.sent, d.prev = d.pending[:0], d.ids[:0], 0, -1
	return out
}

// completePrefix returns the length of b without a trailing incomplete UTF-8
// sequence that more bytes could still complete.
func completePrefix(b []byte) int {
	for k := 1; k <= utf8.UTFMax && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < utf8.RuneSelf {
			return len(b) // ASCII: complete
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(b[len(b)-k:]) {
				return len(b)
			}
			return len(b) - k
		}
	}
	return len(b)
}
