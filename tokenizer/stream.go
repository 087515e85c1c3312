package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// StreamDecoder decodes ids one at a time, as a generator produces them, and
// returns text only when it is complete UTF-8: a token that ends in the
// middle of a multi-byte character (byte-level BPE and <0xNN> byte fallback
// both do this for emoji and CJK) is held back until the rest arrives. The
// concatenation of everything Add and Flush return equals Decode(all ids).
// Each Add costs O(1) in the length of the sequence: this package's
// tokenizers append one piece; others are decoded over a short window, as
// vLLM and transformers' TextStreamer do.
type StreamDecoder struct {
	t       Tokenizer
	p       piecer
	prev    int
	pending []byte
	// For tokenizers of other packages: the ids since the window's start;
	// ids[:read] were returned already, ids[:ctx] are the context that only
	// makes the next piece decode as it does in the whole sequence (a
	// leading space, a byte sequence).
	ids       []int
	ctx, read int
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
		return d.addWindow(id)
	}
	d.pending = d.p.appendPiece(d.pending, id, d.prev)
	d.prev = id
	n := completePrefix(d.pending)
	out := string(d.pending[:n])
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return out
}

// addWindow is Add for a tokenizer without pieces: the new text is
// Decode(window) minus Decode(context), held back while it ends in an
// incomplete character (raw bytes or U+FFFD). Once returned, the ids
// before the newest become the next window's context.
func (d *StreamDecoder) addWindow(id int) string {
	d.ids = append(d.ids, id)
	prefix := d.t.Decode(d.ids[d.ctx:d.read])
	full := d.t.Decode(d.ids[d.ctx:])
	// As vLLM's detokenize_incrementally: the new text starts at the
	// context's length even where the tokenizer rewrote the context
	// (clean-up of spaces), so nothing is held back for good.
	if len(full) <= len(prefix) || strings.HasSuffix(full, "\uFFFD") {
		return ""
	}
	out := full[len(prefix):]
	if completePrefix([]byte(out)) < len(out) {
		return ""
	}
	d.ctx, d.read = d.read, len(d.ids)
	if d.ctx > 0 { // drop what no window will read again
		d.ids = append(d.ids[:0], d.ids[d.ctx:]...)
		d.ctx, d.read = 0, d.read-d.ctx
	}
	return out
}

// Flush returns the bytes held back (an incomplete character at the end of
// the stream) and resets the decoder for a new sequence.
func (d *StreamDecoder) Flush() string {
	var out string
	if d.p == nil {
		prefix := d.t.Decode(d.ids[d.ctx:d.read])
		if full := d.t.Decode(d.ids[d.ctx:]); len(full) > len(prefix) {
			out = full[len(prefix):]
		}
	} else {
		out = string(d.pending)
	}
	d.pending, d.ids, d.ctx, d.read, d.prev = d.pending[:0], d.ids[:0], 0, 0, -1
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
