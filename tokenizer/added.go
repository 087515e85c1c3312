package tokenizer

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// addedMatcher finds added tokens in text, leftmost-longest as HF's
// aho-corasick matcher does. Added tokens are few and nearly all start with
// '<', so candidates are indexed by their first byte.
type addedMatcher struct {
	byFirst [256][]addedToken // longest first
}

func newAddedMatcher(tokens []addedToken) *addedMatcher {
	m := &addedMatcher{}
	for _, a := range tokens {
		if a.Content == "" {
			continue
		}
		c := a.Content[0]
		m.byFirst[c] = append(m.byFirst[c], a)
	}
	for i := range m.byFirst {
		l := m.byFirst[i]
		sort.SliceStable(l, func(a, b int) bool { return len(l[a].Content) > len(l[b].Content) })
	}
	return m
}

// split calls fn with the pieces of text in order: ordinary text with id -1,
// or an added token with its id. lstrip/rstrip tokens swallow the whitespace
// beside them, as in HF.
func (m *addedMatcher) split(text string, fn func(seg string, id int)) {
	start := 0
	for i := 0; i < len(text); i++ {
		cands := m.byFirst[text[i]]
		if len(cands) == 0 {
			continue
		}
		var hit *addedToken
		for k := range cands {
			a := &cands[k]
			if len(text)-i >= len(a.Content) && text[i:i+len(a.Content)] == a.Content {
				if a.SingleWord && !wordBoundary(text, i, i+len(a.Content)) {
					continue
				}
				hit = a
				break
			}
		}
		if hit == nil {
			continue
		}
		segEnd := i
		if hit.LStrip {
			for segEnd > start {
				r, w := utf8.DecodeLastRuneInString(text[start:segEnd])
				if !unicode.IsSpace(r) {
					break
				}
				segEnd -= w
			}
		}
		if segEnd > start {
			fn(text[start:segEnd], -1)
		}
		fn(hit.Content, hit.ID)
		i += len(hit.Content)
		if hit.RStrip {
			for i < len(text) {
				r, w := utf8.DecodeRuneInString(text[i:])
				if !unicode.IsSpace(r) {
					break
				}
				i += w
			}
		}
		start = i
		i-- // the loop's i++
	}
	if start < len(text) {
		fn(text[start:], -1)
	}
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

// wordBoundary reports whether text[i:j] is not glued to word characters.
func wordBoundary(text string, i, j int) bool {
	if i > 0 {
		if r, _ := utf8.DecodeLastRuneInString(text[:i]); isWordRune(r) {
			return false
		}
	}
	if j < len(text) {
		if r, _ := utf8.DecodeRuneInString(text[j:]); isWordRune(r) {
			return false
		}
	}
	return true
}
