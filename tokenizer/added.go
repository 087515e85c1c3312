package tokenizer

import (
	"slices"
	"sort"
	"unicode"
	"unicode/utf8"
)

// addedMatcher finds added tokens in text, leftmost-longest as HF's
// aho-corasick matcher does. Candidates are indexed by their first byte, and
// within it by length (longest first), so a position costs one map lookup
// per distinct length even with Gemma's thousands of "<...>" tokens.
type addedMatcher struct {
	byFirst [256]*addedGroup
}

type addedGroup struct {
	lens []int // distinct lengths, longest first
	toks map[string]addedToken
}

func newAddedMatcher(tokens []addedToken) *addedMatcher {
	m := &addedMatcher{}
	for _, a := range tokens {
		if a.Content == "" {
			continue
		}
		g := m.byFirst[a.Content[0]]
		if g == nil {
			g = &addedGroup{toks: map[string]addedToken{}}
			m.byFirst[a.Content[0]] = g
		}
		if _, dup := g.toks[a.Content]; dup {
			continue
		}
		g.toks[a.Content] = a
		if !slices.Contains(g.lens, len(a.Content)) {
			g.lens = append(g.lens, len(a.Content))
		}
	}
	for _, g := range m.byFirst {
		if g != nil {
			sort.Sort(sort.Reverse(sort.IntSlice(g.lens)))
		}
	}
	return m
}

// split calls fn with the pieces of text in order: ordinary text with id -1,
// or an added token with its id. lstrip/rstrip tokens swallow the whitespace
// beside them, as in HF.
func (m *addedMatcher) split(text string, fn func(seg string, id int)) {
	start := 0
	for i := 0; i < len(text); i++ {
		g := m.byFirst[text[i]]
		if g == nil {
			continue
		}
		var hit *addedToken
		for _, n := range g.lens {
			if len(text)-i < n {
				continue
			}
			if a, ok := g.toks[text[i:i+n]]; ok {
				if a.SingleWord && !wordBoundary(text, i, i+n) {
					continue
				}
				hit = &a
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
