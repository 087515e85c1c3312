package data

import (
	"sort"
	"strings"
)

// fakeTok is a byte-level tokenizer with a few multi-byte pieces matched
// greedily (longest first): enough to make special tokens single ids and, with
// extra pieces, to merge across a chat span boundary.
//
// Like tokenizer.Tokenizer, Encode treats special-token strings as plain text
// and EncodeWithSpecial recognises them.
type fakeTok struct {
	pieces []string // longest first
	ids    map[string]int
	bos    int
	eos    int
	noBOS  bool // AddBOS() reports false
}

func isSpecial(id int) bool { return id >= fakeImStart && id <= fakeEOS }

const (
	fakeImStart = 256
	fakeImEnd   = 257
	fakeBOS     = 258
	fakeEOS     = 259
)

func newFakeTok(extra ...string) *fakeTok {
	t := &fakeTok{ids: map[string]int{
		"<|im_start|>": fakeImStart,
		"<|im_end|>":   fakeImEnd,
		"<s>":          fakeBOS,
		"</s>":         fakeEOS,
	}, bos: fakeBOS, eos: fakeEOS}
	for i, p := range extra {
		t.ids[p] = 260 + i
	}
	for p := range t.ids {
		t.pieces = append(t.pieces, p)
	}
	sort.Slice(t.pieces, func(i, j int) bool {
		if len(t.pieces[i]) != len(t.pieces[j]) {
			return len(t.pieces[i]) > len(t.pieces[j])
		}
		return t.pieces[i] < t.pieces[j]
	})
	return t
}

func (t *fakeTok) Encode(s string) []int            { return t.encode(s, false) }
func (t *fakeTok) EncodeWithSpecial(s string) []int { return t.encode(s, true) }
func (t *fakeTok) AddBOS() bool                     { return !t.noBOS }

func (t *fakeTok) encode(s string, special bool) []int {
	out := make([]int, 0, len(s))
	for i := 0; i < len(s); {
		matched := false
		for _, p := range t.pieces {
			if !special && isSpecial(t.ids[p]) {
				continue
			}
			if strings.HasPrefix(s[i:], p) {
				out = append(out, t.ids[p])
				i += len(p)
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, int(s[i]))
			i++
		}
	}
	return out
}

func (t *fakeTok) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		if id < 256 {
			b.WriteByte(byte(id))
			continue
		}
		for p, v := range t.ids {
			if v == id {
				b.WriteString(p)
			}
		}
	}
	return b.String()
}

func (t *fakeTok) BOS() int       { return t.bos }
func (t *fakeTok) EOS() int       { return t.eos }
func (t *fakeTok) VocabSize() int { return 260 + len(t.ids) - 4 }

// byteTok is the plainest Encoder: one id per byte, no specials, no
// VocabSize (so ids are only checked for sign). Used by the fuzzer and the
// benchmark, where fakeTok's piece search would dominate.
type byteTok struct{}

func (byteTok) Encode(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}
func (byteTok) BOS() int { return 256 }
func (byteTok) EOS() int { return 257 }
