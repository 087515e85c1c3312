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

// split emits the matches and the text between them ("Isolated"). Matching
// runs over runes; byte offsets are kept per rune so invalid UTF-8 bytes
// (matched as U+FFFD) come out unchanged.
func (r *regexSplitter) split(s string, emit func(string)) {
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		c, w := utf8.DecodeRuneInString(s[i:])
		runes = append(runes, c)
		offs = append(offs, i)
		i += w
	}
	offs = append(offs, len(s))
	prev := 0
	m, err := r.re.FindRunesMatch(runes)
	for err == nil && m != nil {
		if m.RuneLength > 0 {
			a, b := offs[m.RuneIndex], offs[m.RuneIndex+m.RuneLength]
			if a > prev {
				emit(s[prev:a])
			}
			emit(s[a:b])
			prev = b
		}
		m, err = r.re.FindNextMatch(m)
	}
	if prev < len(s) {
		emit(s[prev:])
	}
}
