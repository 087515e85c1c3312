package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The split regexes of byte-level BPE tokenizers use lookahead
// (`\s+(?!\S)`), which Go's regexp (RE2) lacks, so the three patterns in
// use are matched by hand. Each alternative is tried in order at the current
// position and the first that matches wins (leftmost-first, like Oniguruma,
// PCRE and JavaScript, which the reference implementations use).
//
//	GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//	Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	Qwen2:   as Llama-3 with \p{N} (one digit per piece)
//
// \s is Unicode White_Space (Go's unicode.IsSpace, as Oniguruma). JavaScript's
// \s differs in U+0085 (not space) and U+FEFF (space); texts with those two
// characters may split differently in the npm reference packages.
const (
	patGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// splitter is one of the hand-matched split patterns.
type splitter struct {
	caseInsensitive bool // (?i:'s|...)
	llama3Style     bool // [^\r\n\p{L}\p{N}]?\p{L}+, trailing [\r\n]* on punctuation, \s*[\r\n]+
	maxDigits       int  // \p{N}{1,k}; 0 means ` ?\p{N}+`
}

// splitterFor returns the splitter of a known pattern.
func splitterFor(pattern string) (splitter, bool) {
	switch pattern {
	case patGPT2:
		return splitter{}, true
	case patLlama3:
		return splitter{caseInsensitive: true, llama3Style: true, maxDigits: 3}, true
	case patQwen2:
		return splitter{caseInsensitive: true, llama3Style: true, maxDigits: 1}, true
	}
	return splitter{}, false
}

// Character classes of the patterns.
const (
	clOther  = iota // [^\s\p{L}\p{N}]
	clLetter        // \p{L}
	clNumber        // \p{N}
	clSpace         // \s
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		asciiClass[c] = classOfRune(rune(c))
	}
}

func classOfRune(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clLetter
	case unicode.IsNumber(r):
		return clNumber
	case unicode.IsSpace(r):
		return clSpace
	}
	return clOther
}

// at returns the class and width of the rune at s[i]; invalid UTF-8 bytes
// count as one "other" character of width 1.
func at(s string, i int) (uint8, rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], rune(c), 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && w == 1 {
		return clOther, r, 1
	}
	return classOfRune(r), r, w
}

// runOf returns the end of the run of class cl starting at i.
func runOf(s string, i int, cl uint8) int {
	for i < len(s) {
		c, _, w := at(s, i)
		if c != cl {
			break
		}
		i += w
	}
	return i
}

// split calls emit with each piece of s, in order; the pieces concatenate to s.
func (sp splitter) split(s string, emit func(string)) {
	for i := 0; i < len(s); {
		j := sp.match(s, i)
		emit(s[i:j])
		i = j
	}
}

func lower(b byte) byte { return b | 0x20 }

// match returns the end of the piece starting at i (always > i).
func (sp splitter) match(s string, i int) int {
	// Contractions.
	if s[i] == '\'' && i+1 < len(s) {
		c := s[i+1]
		if sp.caseInsensitive {
			c = lower(c)
		}
		switch c {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v', 'l':
			if i+2 < len(s) {
				d := s[i+2]
				if sp.caseInsensitive {
					d = lower(d)
				}
				if (c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l') {
					return i + 3
				}
			}
		}
	}
	cl, r, w := at(s, i)
	var ncl uint8 = 255 // class of the next rune, if any
	var nw int
	if i+w < len(s) {
		ncl, _, nw = at(s, i+w)
	}
	_ = nw
	// Letters, with an optional one-character prefix.
	if cl == clLetter {
		return runOf(s, i, clLetter)
	}
	if ncl == clLetter {
		if sp.llama3Style {
			if r != '\r' && r != '\n' && cl != clNumber {
				return runOf(s, i+w, clLetter)
			}
		} else if r == ' ' {
			return runOf(s, i+1, clLetter)
		}
	}
	// Numbers.
	if sp.maxDigits > 0 {
		if cl == clNumber {
			j := i + w
			for k := 1; k < sp.maxDigits && j < len(s); k++ {
				c, _, w := at(s, j)
				if c != clNumber {
					break
				}
				j += w
			}
			return j
		}
	} else {
		if cl == clNumber {
			return runOf(s, i, clNumber)
		}
		if r == ' ' && ncl == clNumber {
			return runOf(s, i+1, clNumber)
		}
	}
	// Punctuation and symbols, with an optional leading space.
	j := -1
	if cl == clOther {
		j = runOf(s, i, clOther)
	} else if r == ' ' && ncl == clOther {
		j = runOf(s, i+1, clOther)
	}
	if j >= 0 {
		if sp.llama3Style {
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
		}
		return j
	}
	// Whitespace (cl == clSpace here).
	e := i
	last := i // start of the last rune of the run
	lastNL := -1
	for e < len(s) {
		c, r, w := at(s, e)
		if c != clSpace {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = e
		}
		last = e
		e += w
	}
	if sp.llama3Style && lastNL >= 0 {
		return lastNL + 1 // \s*[\r\n]+
	}
	if e == len(s) || last == i {
		return e // \s+ at the end, or a single space before a non-space
	}
	return last // \s+(?!\S): leave the last space for the next piece
}
