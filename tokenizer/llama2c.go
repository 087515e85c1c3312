package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Llama2C is the tokenizer of karpathy/llama2.c's tok.bin files: a
// SentencePiece vocabulary exported with scores, encoded the way run.c does
// (a dummy-prefix space, one symbol per UTF-8 character or its <0xNN> byte
// tokens, then repeatedly the highest-scoring merge, leftmost on ties).
//
// File format (little endian): int32 max_token_length, then for each token a
// float32 score, an int32 byte length and the bytes. BOS is 1, EOS is 2.
type Llama2C struct {
	vocabulary
	scores []float32
	model  bpe
	byteID [256]int32
	space  int32       // id of " " (the dummy prefix), -1 if absent
	cut    *wordCutter // cuts text before spaces

	// What tok.bin cannot say and a GGUF SentencePiece vocabulary can
	// (SentencePiece sets these in tokenizer.ggml.*): tok.bin's are fixed.
	bos, eos       int
	bosTok, eosTok string
	addBOS         bool
	chatTemplate   string
}

// LoadLlama2C reads a llama2.c tok.bin file.
func LoadLlama2C(path string) (*Llama2C, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("tokenizer: %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := ParseLlama2C(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

// ParseLlama2C reads a tok.bin from bytes. The vocabulary size is not stored
// in the file; it is the number of records.
func ParseLlama2C(data []byte) (*Llama2C, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("tok.bin: %d bytes, too short for the header", len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen <= 0 {
		return nil, fmt.Errorf("tok.bin: max_token_length %d", maxLen)
	}
	var vocab []string
	var scores []float32
	for off := 4; off < len(data); {
		if len(data)-off < 8 {
			return nil, fmt.Errorf("tok.bin: token %d: truncated record at byte %d", len(vocab), off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		if n < 0 || int(n) > len(data)-off || n > maxLen+8 {
			return nil, fmt.Errorf("tok.bin: token %d: length %d at byte %d (max_token_length %d, %d bytes left)", len(vocab), n, off-4, maxLen, len(data)-off)
		}
		if math.IsNaN(float64(score)) {
			return nil, fmt.Errorf("tok.bin: token %d: score is NaN", len(vocab))
		}
		vocab = append(vocab, string(data[off:off+int(n)]))
		scores = append(scores, score)
		off += int(n)
	}
	if len(vocab) < 3 {
		return nil, fmt.Errorf("tok.bin: %d tokens; BOS=1 and EOS=2 need at least 3", len(vocab))
	}
	return newSPM(vocab, scores, 1, 2, true, ""), nil
}

// newSPM builds the scored SentencePiece tokenizer from its vocabulary (with
// " " where SentencePiece writes ▁) and scores.
func newSPM(vocab []string, scores []float32, bos, eos int, addBOS bool, chatTemplate string) *Llama2C {
	t := &Llama2C{vocabulary: vocabulary{vocab: vocab, ids: make(map[string]int32, len(vocab))}, scores: scores, space: -1,
		bos: bos, eos: eos, addBOS: addBOS, chatTemplate: chatTemplate, bosTok: "<s>", eosTok: "</s>"}
	for id, s := range vocab {
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = int32(id)
		}
	}
	for b := range t.byteID {
		t.byteID[b] = -1
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.byteID[b] = id
		}
	}
	if id, ok := t.ids[" "]; ok {
		t.space = id
	}
	t.cut = newWordCutter(t.vocab, " ")
	// run.c merges the adjacent pair whose concatenation is a token with the
	// highest score. Turn that into ranks: equal scores get equal ranks so the
	// leftmost pair wins ties as in run.c.
	order := make([]int, len(t.vocab))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return t.scores[order[a]] > t.scores[order[b]] })
	rank := make([]int32, len(t.vocab))
	r := int32(0)
	for k, id := range order {
		if k > 0 && t.scores[id] != t.scores[order[k-1]] {
			r++
		}
		rank[id] = r
	}
	t.model.merges = map[uint64]merge{}
	for id, s := range t.vocab {
		if t.ids[s] != int32(id) {
			continue // duplicate string: run.c's lookup finds one of them
		}
		for k := 1; k < len(s); k++ {
			a, oka := t.ids[s[:k]]
			b, okb := t.ids[s[k:]]
			if oka && okb {
				t.model.merges[pairKey(a, b)] = merge{rank: rank[id], id: int32(id)}
			}
		}
	}
	return t
}

// Encode implements Tokenizer: run.c's encode without BOS/EOS.
func (t *Llama2C) Encode(text string) []int {
	if text == "" {
		return []int{}
	}
	out := make([]int, 0, len(text)/3+1)
	var syms []int32
	word := func(w string) {
		syms = t.symbols(syms[:0], w)
		for _, id := range t.model.apply(syms) {
			out = append(out, int(id))
		}
	}
	if t.space >= 0 {
		text = " " + text
	}
	if t.cut != nil {
		t.cut.cut(text, word)
	} else {
		word(text)
	}
	return out
}

// symbols appends run.c's initial symbols of w: each UTF-8 character's
// token, or its bytes' <0xNN> tokens.
func (t *Llama2C) symbols(dst []int32, w string) []int32 {
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		if id, ok := t.ids[w[i:i+n]]; ok {
			dst = append(dst, id)
		} else {
			for k := i; k < i+n; k++ {
				if id := t.byteID[w[k]]; id >= 0 {
					dst = append(dst, id)
				} else {
					dst = append(dst, 0) // run.c: <unk>
				}
			}
		}
		i += n
	}
	return dst
}

// EncodeWithSpecial implements Full. tok.bin's special tokens ("\n<s>\n")
// never occur in ordinary text, so it is Encode.
func (t *Llama2C) EncodeWithSpecial(text string) []int { return t.Encode(text) }

// Decode implements Tokenizer with run.c's decode: BOS and EOS print nothing,
// a piece right after BOS (or at the start) loses its leading space, and
// <0xNN> tokens are raw bytes. (run.c's safe_printf also drops single
// non-printable bytes when printing; Decode keeps them so that text round
// trips.)
func (t *Llama2C) Decode(ids []int) string { return decodeWith(ids, t.appendPiece) }

func (t *Llama2C) appendPiece(dst []byte, id, prev int) []byte {
	if id < 0 || id >= len(t.vocab) || id == t.bos || id == t.eos {
		return dst
	}
	p := t.vocab[id]
	if (prev == t.bos || prev < 0) && strings.HasPrefix(p, " ") {
		p = p[1:]
	}
	if len(p) == 6 && strings.HasPrefix(p, "<0x") && p[5] == '>' {
		if v, err := strconv.ParseUint(p[3:5], 16, 8); err == nil {
			return append(dst, byte(v))
		}
	}
	return append(dst, p...)
}

// BOS implements Tokenizer.
func (t *Llama2C) BOS() int { return t.bos }

// EOS implements Tokenizer.
func (t *Llama2C) EOS() int { return t.eos }

// AddBOS implements Full: run.c always starts from BOS.
func (t *Llama2C) AddBOS() bool { return t.addBOS }

// Score returns the merge score of id (0 if out of range).
func (t *Llama2C) Score(id int) float32 {
	if id < 0 || id >= len(t.scores) {
		return 0
	}
	return t.scores[id]
}

// BOSToken implements Full; Llama-2 chat templates expect "<s>".
func (t *Llama2C) BOSToken() string { return t.bosTok }

// EOSToken implements Full.
func (t *Llama2C) EOSToken() string { return t.eosTok }

// ChatTemplate implements Full: tok.bin carries none.
func (t *Llama2C) ChatTemplate() string { return t.chatTemplate }
