package tokenizer

import (
	"fmt"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// regexSplitter splits with a Split pattern that is not one of the
// hand-matched ones, using a backtracking engine (lookahead, \p{..}) with
// leftmost-first alternation like Oniguruma. It is slower than splitter and
// is the fallback for other model families.
type regexSplitter struct {
	re *regexp2.Regexp
}

func newRegexSplitter(pattern string) (*regexSplitter, error) {
	re, err := regexp2.Compile(pattern, regexp2.Unicode)
	if err != nil {
		return nil, fmt.Errorf("pre-tokenizer Split regex %q: %w", pattern, err)
	}
	return &regexSplitter{re: re}, nil
}

// matches calls match with the byte offsets of each non-empty match in
// order. Matching runs over runes; byte offsets are kept per rune so invalid
// UTF-8 bytes (matched as U+FFFD) come out unchanged.
func (r *regexSplitter) matches(s string, match func(a, b int)) {
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		c, w := utf8.DecodeRuneInString(s[i:])
		runes = append(runes, c)
		offs = append(offs, i)
		i += w
	}
	offs = append(offs, len(s))
	m, err := r.re.FindRunesMatch(runes)
	for err == nil && m != nil {
		if m.RuneLength > 0 {
			match(offs[m.RuneIndex], offs[m.RuneIndex+m.RuneLength])
		}
		m, err = r.re.FindNextMatch(m)
	}
}

// split emits the matches and the text between them ("Isolated").
func (r *regexSplitter) split(s string, emit func(string)) { isolated.split(s, r.matches, emit) }

// splitBehavior is what a Split pre-tokenizer does with its matches, as in
// HF tokenizers' SplitDelimiterBehavior.
type splitBehavior int

const (
	isolated           splitBehavior = iota // matches are words of their own
	removed                                 // matches are dropped
	mergedWithPrevious                      // a match ends the word before it
	mergedWithNext                          // a match starts the word after it
)

// split emits the words of s given the matches that find reports.
func (b splitBehavior) split(s string, find func(s string, match func(a, b int)), emit func(string)) {
	prev := 0 // start of the text not emitted yet
	find(s, func(a, e int) {
		switch b {
		case isolated, removed:
			if a > prev {
				emit(s[prev:a])
			}
			if b == isolated {
				emit(s[a:e])
			}
			prev = e
		case mergedWithPrevious:
			emit(s[prev:e])
			prev = e
		case mergedWithNext:
			if a > prev {
				emit(s[prev:a])
			}
			prev = a
		}
	})
	if prev < len(s) {
		emit(s[prev:])
	}
}
