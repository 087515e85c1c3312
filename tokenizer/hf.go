package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// HF is a BPE tokenizer read from a Hugging Face tokenizer.json: byte-level
// (GPT-2, Qwen, Llama-3) or SentencePiece-style with the ▁ metaspace and byte
// fallback (Llama-2, TinyLlama, Mistral).
type HF struct {
	vocabulary          // vocab and added tokens, as stored in the file
	pieces     [][]byte // id -> decoded bytes

	byteLevel  bool       // symbols are bytes mapped through bytesToUnicode
	byteID     [256]int32 // byte-level: id of each byte's symbol (-1 if absent)
	fallbackID [256]int32 // SentencePiece byte fallback: id of <0xNN> (-1 if absent)
	unk        int32      // -1 if none
	fuseUnk    bool
	ignoreMerg bool // Llama-3: a word that is a vocab entry skips the merges

	model bpe

	normalizers []normalizer
	pre         []preTokenizer
	stripLead   bool // decoder strips one leading space of the text
	// cutter, when not nil, cuts SentencePiece-style text before the
	// metaspace ("▁") into words that BPE can merge independently.
	cutter  *wordCutter
	ggufPre string // llama.cpp's tokenizer.ggml.pre for the split pattern, "" if none matches

	added       []addedToken
	addedAll    *addedMatcher // every added token
	addedPlain  *addedMatcher // added tokens that are not special
	specialByID map[int32]bool

	bos, eos          int
	bosTok, eosTok    string
	addBOS            bool
	chatTemplate      string
	cacheMu           sync.RWMutex
	cache             map[string][]int32
	maxCacheEntries   int
	maxCachedWordSize int
}

type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfFile struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type         string            `json:"type"`
		Vocab        map[string]int    `json:"vocab"`
		Merges       []json.RawMessage `json:"merges"`
		UnkToken     *string           `json:"unk_token"`
		FuseUnk      bool              `json:"fuse_unk"`
		ByteFallback bool              `json:"byte_fallback"`
		IgnoreMerges bool              `json:"ignore_merges"`
		Prefix       *string           `json:"continuing_subword_prefix"`
		Suffix       *string           `json:"end_of_word_suffix"`
	} `json:"model"`
}

// component is the common shape of normalizers, pre-tokenizers and decoders.
type component struct {
	Type          string            `json:"type"`
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`
	Prepend       string            `json:"prepend"`
	Pattern       struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content          string `json:"content"`
	Behavior         string `json:"behavior"`
	Invert           bool   `json:"invert"`
	AddPrefixSpace   *bool  `json:"add_prefix_space"`
	UseRegex         *bool  `json:"use_regex"`
	Replacement      string `json:"replacement"`
	PrependScheme    string `json:"prepend_scheme"`
	Split            *bool  `json:"split"`
	IndividualDigits bool   `json:"individual_digits"`
	Start            int    `json:"start"`
	Stop             int    `json:"stop"`
	Single           []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
	} `json:"single"`
}

// maxIDGap is how many ids beyond twice the defined tokens a tokenizer.json
// may leave unused (see ParseHF).
const maxIDGap = 1 << 16

// LoadHF reads tokenizer.json and, if it exists, tokenizer_config.json.
func LoadHF(tokenizerJSON, configJSON string) (*HF, error) {
	// A named pipe or device would block ReadFile forever or never end.
	if fi, err := os.Stat(tokenizerJSON); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("tokenizer: %s is not a regular file (%v)", tokenizerJSON, fi.Mode().Type())
	}
	data, err := os.ReadFile(tokenizerJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var cfg []byte
	if configJSON != "" {
		cfg, err = os.ReadFile(configJSON)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	t, err := ParseHF(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", tokenizerJSON, err)
	}
	return t, nil
}

// ParseHF builds a tokenizer from the bytes of tokenizer.json and of
// tokenizer_config.json (nil if absent).
func ParseHF(tokenizerJSON, configJSON []byte) (*HF, error) {
	var f hfFile
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, err
	}
	if f.Model.Type != "BPE" && f.Model.Type != "" {
		return nil, fmt.Errorf("model type %q is not supported (BPE only)", f.Model.Type)
	}
	if p := f.Model.Prefix; p != nil && *p != "" {
		return nil, fmt.Errorf("continuing_subword_prefix %q is not supported", *p)
	}
	if p := f.Model.Suffix; p != nil && *p != "" {
		return nil, fmt.Errorf("end_of_word_suffix %q is not supported", *p)
	}
	t := &HF{
		vocabulary:        vocabulary{ids: make(map[string]int32, len(f.Model.Vocab)+len(f.AddedTokens))},
		unk:               -1,
		fuseUnk:           f.Model.FuseUnk,
		ignoreMerg:        f.Model.IgnoreMerges,
		specialByID:       map[int32]bool{},
		bos:               -1,
		eos:               -1,
		cache:             map[string][]int32{},
		maxCacheEntries:   1 << 17,
		maxCachedWordSize: 256,
	}
	if len(f.Model.Vocab) == 0 {
		return nil, errors.New("model.vocab is missing or empty (is this a tokenizer.json?)")
	}
	n := 0
	for s, id := range f.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("vocab entry %.64q has negative id %d", s, id)
		}
		n = max(n, min(id, math.MaxInt32-1)+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("added token %.64q has negative id %d", a.Content, a.ID)
		}
		n = max(n, min(a.ID, math.MaxInt32-1)+1)
	}
	// Tables are indexed by id, so the highest id decides their size: a
	// single id of 1e9 would ask for gigabytes. Real files number their
	// tokens densely (added tokens right after the vocab), so allow gaps
	// up to the number of tokens defined plus maxIDGap, no more.
	if defined := len(f.Model.Vocab) + len(f.AddedTokens); n > 2*defined+maxIDGap {
		return nil, fmt.Errorf("highest token id %d is far above the %d tokens defined (ids must be numbered densely from 0; a table of %d entries would be needed)", n-1, defined, n)
	}
	t.vocab = make([]string, n)
	for s, id := range f.Model.Vocab {
		t.vocab[id] = s
		t.ids[s] = int32(id)
	}

	// Components.
	if err := t.parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if err := t.parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if err := t.parseDecoder(f.Decoder); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if f.Model.UnkToken != nil {
		if id, ok := t.ids[*f.Model.UnkToken]; ok {
			t.unk = id
		}
	}
	for i := range t.byteID {
		t.byteID[i], t.fallbackID[i] = -1, -1
	}
	if t.byteLevel {
		for b := 0; b < 256; b++ {
			if id, ok := t.ids[string(byteToRune[b])]; ok {
				t.byteID[b] = id
			}
		}
	}
	if f.Model.ByteFallback {
		for b := 0; b < 256; b++ {
			if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
				t.fallbackID[b] = id
			}
		}
	}

	// Merges: "a b" strings (older files) or ["a", "b"] pairs.
	t.model.merges = make(map[uint64]merge, len(f.Model.Merges))
	for rank, raw := range f.Model.Merges {
		var a, b string
		if len(raw) > 0 && raw[0] == '[' {
			var p []string
			if err := json.Unmarshal(raw, &p); err != nil || len(p) != 2 {
				return nil, fmt.Errorf("merge %d: %s is not a pair", rank, raw)
			}
			a, b = p[0], p[1]
		} else {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("merge %d: %w", rank, err)
			}
			var ok bool
			a, b, ok = strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("merge %d: %q has no space", rank, s)
			}
		}
		ia, oka := t.ids[a]
		ib, okb := t.ids[b]
		im, okm := t.ids[a+b]
		if !oka || !okb || !okm {
			return nil, fmt.Errorf("merge %d: %q + %q: token not in vocab", rank, a, b)
		}
		k := pairKey(ia, ib)
		if _, dup := t.model.merges[k]; !dup {
			t.model.merges[k] = merge{rank: int32(rank), id: im}
		}
	}

	// Added tokens.
	t.added = f.AddedTokens
	var all, plain []addedToken
	for _, a := range f.AddedTokens {
		t.vocab[a.ID] = a.Content
		t.ids[a.Content] = int32(a.ID)
		all = append(all, a)
		if a.Special {
			t.specialByID[int32(a.ID)] = true
		} else {
			plain = append(plain, a)
		}
	}
	t.addedAll = newAddedMatcher(all)
	t.addedPlain = newAddedMatcher(plain)

	// Decoded bytes of every id.
	t.pieces = make([][]byte, n)
	for id, s := range t.vocab {
		t.pieces[id] = t.decodePiece(s)
	}
	// Byte-level decoders pass added tokens through unchanged (their text is
	// not byte-mapped); SentencePiece decoders rewrite them like any token,
	// so Gemma's "▁▁" added token decodes to two spaces.
	if t.byteLevel {
		for _, a := range f.AddedTokens {
			t.pieces[a.ID] = []byte(a.Content)
		}
	}

	// (With ignore_merges a whole word found in the vocabulary is one token,
	// which cutting it would change.)
	if !t.byteLevel && !t.ignoreMerg {
		t.cutter = newWordCutter(t.vocab, "▁")
	}

	// BOS from the post-processor (Llama-2's TemplateProcessing adds <s>;
	// Llama-3.1 has it inside a Sequence after ByteLevel).
	t.parsePostProcessor(f.PostProcessor)
	if err := t.parseConfig(configJSON); err != nil {
		return nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	return t, nil
}

// parsePostProcessor takes the BOS token from a TemplateProcessing whose
// single-sequence template starts with a special token.
func (t *HF) parsePostProcessor(raw json.RawMessage) {
	var pp component
	if len(raw) == 0 || json.Unmarshal(raw, &pp) != nil {
		return
	}
	switch pp.Type {
	case "Sequence":
		for _, r := range pp.Processors {
			t.parsePostProcessor(r)
		}
	case "TemplateProcessing":
		if len(pp.Single) > 0 && pp.Single[0].SpecialToken != nil {
			if id, ok := t.ids[pp.Single[0].SpecialToken.ID]; ok {
				t.bos, t.bosTok, t.addBOS = int(id), pp.Single[0].SpecialToken.ID, true
			}
		}
	}
}

// tokenField reads bos_token/eos_token, which is a string or an AddedToken
// object ({"content": ...}) or null.
func tokenField(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var o struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Content != "" {
		return o.Content, true
	}
	return "", false
}

func (t *HF) parseConfig(data []byte) error {
	if data == nil {
		return nil
	}
	var c struct {
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
		AddBOS       *bool           `json:"add_bos_token"`
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	if s, ok := tokenField(c.BOS); ok {
		if id, ok := t.ids[s]; ok {
			t.bos, t.bosTok = int(id), s
		}
	}
	if s, ok := tokenField(c.EOS); ok {
		if id, ok := t.ids[s]; ok {
			t.eos, t.eosTok = int(id), s
		}
	}
	if c.AddBOS != nil {
		t.addBOS = *c.AddBOS && t.bos >= 0
	}
	// chat_template is a string, or a list of {name, template} of which
	// "default" is the chat template.
	if len(c.ChatTemplate) > 0 && string(c.ChatTemplate) != "null" {
		var s string
		if json.Unmarshal(c.ChatTemplate, &s) == nil {
			t.chatTemplate = s
		} else {
			var list []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(c.ChatTemplate, &list); err != nil {
				return fmt.Errorf("chat_template: %w", err)
			}
			for _, e := range list {
				if e.Name == "default" {
					t.chatTemplate = e.Template
				}
			}
		}
	}
	return nil
}

// forceRegexFallback makes known Split patterns use the regex engine too;
// tests set it to check the hand-written matchers against it.
var forceRegexFallback = false

// eachComponent decodes a normalizer, pre-tokenizer or decoder (absent or
// null: none) and calls f with it, or with each member of a Sequence in
// order.
func eachComponent(raw json.RawMessage, f func(c *component) error) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	if c.Type != "Sequence" {
		return f(&c)
	}
	for _, r := range slices.Concat(c.Normalizers, c.PreTokenizers, c.Decoders) {
		if err := eachComponent(r, f); err != nil {
			return err
		}
	}
	return nil
}

// normalizer rewrites text before splitting.
type normalizer func(string) string

func (t *HF) parseNormalizer(raw json.RawMessage) error {
	return eachComponent(raw, func(c *component) error {
		switch c.Type {
		case "NFC":
			t.normalizers = append(t.normalizers, norm.NFC.String)
		case "NFKC":
			t.normalizers = append(t.normalizers, norm.NFKC.String)
		case "NFD":
			t.normalizers = append(t.normalizers, norm.NFD.String)
		case "NFKD":
			t.normalizers = append(t.normalizers, norm.NFKD.String)
		case "Lowercase":
			t.normalizers = append(t.normalizers, strings.ToLower)
		case "Prepend":
			p := c.Prepend
			t.normalizers = append(t.normalizers, func(s string) string {
				if s == "" {
					return s
				}
				return p + s
			})
		case "Replace":
			if c.Pattern.String == nil {
				return fmt.Errorf("normalizer Replace with a regex pattern is not supported")
			}
			from, to := *c.Pattern.String, c.Content
			t.normalizers = append(t.normalizers, func(s string) string { return strings.ReplaceAll(s, from, to) })
		default:
			return fmt.Errorf("%q is not supported", c.Type)
		}
		return nil
	})
}

// preTokenizer splits (and may rewrite) text into words; it calls emit with
// each word in order.
type preTokenizer func(s string, first bool, emit func(string))

func (t *HF) parsePreTokenizer(raw json.RawMessage) error {
	return eachComponent(raw, func(c *component) error {
		switch c.Type {
		case "ByteLevel":
			t.byteLevel = true
			if c.AddPrefixSpace != nil && *c.AddPrefixSpace {
				t.pre = append(t.pre, func(s string, first bool, emit func(string)) {
					if first && s != "" && s[0] != ' ' {
						s = " " + s
					}
					emit(s)
				})
			}
			if c.UseRegex == nil || *c.UseRegex {
				t.ggufPre = "gpt-2"
				sp, _ := splitterFor(patGPT2)
				t.pre = append(t.pre, func(s string, _ bool, emit func(string)) { sp.split(s, emit) })
			}
		case "Split":
			if c.Invert {
				return fmt.Errorf("pre-tokenizer Split with invert is not supported")
			}
			var b splitBehavior
			switch c.Behavior {
			case "Isolated":
				b = isolated
			case "Removed":
				b = removed
			case "MergedWithPrevious":
				b = mergedWithPrevious
			case "MergedWithNext":
				b = mergedWithNext
			default:
				return fmt.Errorf("pre-tokenizer Split behavior %q is not supported", c.Behavior)
			}
			var find func(s string, match func(a, b int))
			switch {
			case c.Pattern.String != nil:
				lit := *c.Pattern.String
				if lit == "" {
					return fmt.Errorf("pre-tokenizer Split with an empty string pattern")
				}
				find = func(s string, match func(a, b int)) {
					for i := 0; ; {
						j := strings.Index(s[i:], lit)
						if j < 0 {
							return
						}
						match(i+j, i+j+len(lit))
						i += j + len(lit)
					}
				}
			case c.Pattern.Regex != nil:
				if b == isolated {
					t.ggufPre = map[string]string{patGPT2: "gpt-2", patLlama3: "llama-bpe", patQwen2: "qwen2"}[*c.Pattern.Regex]
				}
				if sp, ok := splitterFor(*c.Pattern.Regex); ok && !forceRegexFallback && b == isolated {
					t.pre = append(t.pre, func(s string, _ bool, emit func(string)) { sp.split(s, emit) })
					return nil
				}
				rs, err := newRegexSplitter(*c.Pattern.Regex)
				if err != nil {
					return err
				}
				find = rs.matches
			default:
				return fmt.Errorf("pre-tokenizer Split without a pattern")
			}
			t.pre = append(t.pre, func(s string, _ bool, emit func(string)) { b.split(s, find, emit) })
		case "Digits":
			// Granite / StarCoder: digits are words of their own (one per digit
			// with individual_digits), as HF's Digits pre-tokenizer, whose
			// "digit" is Rust's char::is_numeric (Unicode N, as unicode.IsNumber).
			each := c.IndividualDigits
			t.pre = append(t.pre, func(s string, _ bool, emit func(string)) {
				start, inDigits := 0, false
				for i, r := range s {
					d := unicode.IsNumber(r)
					if i > start && (d != inDigits || d && each) {
						emit(s[start:i])
						start = i
					}
					inDigits = d
				}
				if start < len(s) {
					emit(s[start:])
				}
			})
		case "Metaspace":
			rep := c.Replacement
			if rep == "" {
				rep = "▁"
			}
			scheme := c.PrependScheme
			if scheme == "" {
				scheme = "always"
				if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
					scheme = "never"
				}
			}
			split := c.Split == nil || *c.Split
			t.pre = append(t.pre, func(s string, first bool, emit func(string)) {
				s = strings.ReplaceAll(s, " ", rep)
				if s != "" && (scheme == "always" || (scheme == "first" && first)) && !strings.HasPrefix(s, rep) {
					s = rep + s
				}
				if !split {
					emit(s)
					return
				}
				// MergedWithNext: each piece starts at a ▁.
				start := 0
				for i := len(rep); i <= len(s)-len(rep); {
					if strings.HasPrefix(s[i:], rep) {
						if i > start {
							emit(s[start:i])
						}
						start = i
						i += len(rep)
						continue
					}
					_, w := utf8.DecodeRuneInString(s[i:])
					i += w
				}
				if start < len(s) {
					emit(s[start:])
				}
			})
		default:
			return fmt.Errorf("%q is not supported", c.Type)
		}
		return nil
	})
}

func (t *HF) parseDecoder(raw json.RawMessage) error {
	return eachComponent(raw, func(c *component) error {
		switch c.Type {
		case "ByteLevel":
			if !t.byteLevel {
				return fmt.Errorf("a ByteLevel decoder needs a ByteLevel pre-tokenizer")
			}
		case "Replace", "ByteFallback", "Fuse":
			// SentencePiece pieces: ▁ -> space and <0xNN> -> byte, see decodePiece.
		case "Strip":
			if c.Start > 1 || c.Stop > 0 || c.Content != " " {
				return fmt.Errorf("decoder Strip %q start %d stop %d is not supported", c.Content, c.Start, c.Stop)
			}
			t.stripLead = c.Start == 1
		case "Metaspace":
			if c.PrependScheme != "never" && (c.AddPrefixSpace == nil || *c.AddPrefixSpace) {
				t.stripLead = true
			}
		default:
			return fmt.Errorf("%q is not supported", c.Type)
		}
		return nil
	})
}

// decodePiece returns the bytes of a vocabulary string.
func (t *HF) decodePiece(s string) []byte {
	if t.byteLevel {
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if b, ok := runeToByte[r]; ok {
				out = append(out, b)
			} else {
				out = utf8.AppendRune(out, r)
			}
		}
		return out
	}
	if len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>' {
		if v, err := strconv.ParseUint(s[3:5], 16, 8); err == nil {
			return []byte{byte(v)}
		}
	}
	return []byte(strings.ReplaceAll(s, "▁", " "))
}

// byteToRune is GPT-2's bytes_to_unicode: printable bytes map to themselves,
// the others to U+0100 upwards, so every byte is a visible character.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// Encode implements Tokenizer.
func (t *HF) Encode(text string) []int { return t.encode(text, t.addedPlain) }

// EncodeWithSpecial implements Full.
func (t *HF) EncodeWithSpecial(text string) []int { return t.encode(text, t.addedAll) }

func (t *HF) encode(text string, m *addedMatcher) []int {
	out := make([]int, 0, len(text)/3+1)
	first := true
	m.split(text, func(seg string, id int) {
		if id >= 0 {
			out = append(out, id)
			return
		}
		out = t.encodeSegment(out, seg, first)
		first = false
	})
	return out
}

// encodeSegment encodes text that holds no added token.
func (t *HF) encodeSegment(out []int, s string, first bool) []int {
	for _, n := range t.normalizers {
		s = n(s)
	}
	if s == "" {
		return out
	}
	emit := func(w string) { out = t.encodeWord(out, w) }
	if t.cutter != nil {
		emit = func(w string) { t.cutter.cut(w, func(w string) { out = t.encodeWord(out, w) }) }
	}
	// Apply the pre-tokenizers in sequence; each splits the words of the
	// previous one.
	var run func(level int, s string)
	run = func(level int, s string) {
		if level == len(t.pre) {
			emit(s)
			return
		}
		t.pre[level](s, first, func(w string) { run(level+1, w) })
	}
	run(0, s)
	return out
}

// encodeWord runs BPE on one pre-tokenized word, with a cache.
func (t *HF) encodeWord(out []int, w string) []int {
	if w == "" {
		return out
	}
	if t.ignoreMerg {
		if id, ok := t.ids[t.wordKey(w)]; ok {
			return append(out, int(id))
		}
	}
	cacheable := len(w) <= t.maxCachedWordSize
	if cacheable {
		t.cacheMu.RLock()
		ids, ok := t.cache[w]
		t.cacheMu.RUnlock()
		if ok {
			for _, id := range ids {
				out = append(out, int(id))
			}
			return out
		}
	}
	var buf [64]int32
	syms := t.symbols(buf[:0], w)
	syms = t.model.apply(syms)
	for _, id := range syms {
		out = append(out, int(id))
	}
	if cacheable {
		c := make([]int32, len(syms))
		copy(c, syms)
		t.cacheMu.Lock()
		if len(t.cache) >= t.maxCacheEntries {
			clear(t.cache)
		}
		t.cache[w] = c
		t.cacheMu.Unlock()
	}
	return out
}

// wordKey is the vocabulary spelling of a word (byte-level: mapped bytes).
func (t *HF) wordKey(w string) string {
	if !t.byteLevel {
		return w
	}
	var sb strings.Builder
	for i := 0; i < len(w); i++ {
		sb.WriteRune(byteToRune[w[i]])
	}
	return sb.String()
}

// symbols returns the initial symbols of a word: bytes for byte-level BPE,
// characters (or their bytes' <0xNN> fallback, or unk) for SentencePiece.
func (t *HF) symbols(dst []int32, w string) []int32 {
	if t.byteLevel {
		for i := 0; i < len(w); i++ {
			if id := t.byteID[w[i]]; id >= 0 {
				dst = append(dst, id)
			} // a byte missing from the vocab is dropped, as HF does without unk
		}
		return dst
	}
	prevUnk := false
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		ch := w[i : i+n]
		i += n
		if id, ok := t.ids[ch]; ok {
			dst = append(dst, id)
			prevUnk = false
			continue
		}
		if t.fallbackID[ch[0]] >= 0 {
			for k := 0; k < len(ch); k++ {
				dst = append(dst, t.fallbackID[ch[k]])
			}
			prevUnk = false
			continue
		}
		if t.unk >= 0 && !(t.fuseUnk && prevUnk) {
			dst = append(dst, t.unk)
		}
		prevUnk = true
	}
	return dst
}

// Decode implements Tokenizer.
func (t *HF) Decode(ids []int) string { return decodeWith(ids, t.appendPiece) }

func (t *HF) appendPiece(dst []byte, id, prev int) []byte {
	if id < 0 || id >= len(t.pieces) {
		return dst
	}
	p := t.pieces[id]
	if t.stripLead && prev < 0 && len(p) > 0 && p[0] == ' ' {
		p = p[1:]
	}
	return append(dst, p...)
}

// BOS implements Tokenizer.
func (t *HF) BOS() int { return t.bos }

// EOS implements Tokenizer.
func (t *HF) EOS() int { return t.eos }

// AddBOS implements Full.
func (t *HF) AddBOS() bool { return t.addBOS }

// IsSpecial reports whether id is a special added token.
func (t *HF) IsSpecial(id int) bool { return t.specialByID[int32(id)] }

// BOSToken implements Full.
func (t *HF) BOSToken() string { return t.bosTok }

// EOSToken implements Full.
func (t *HF) EOSToken() string { return t.eosTok }

// ChatTemplate implements Full.
func (t *HF) ChatTemplate() string { return t.chatTemplate }

// wordCutter cuts SentencePiece-style text, which has no pre-tokenizer,
// into pieces that BPE encodes independently to the ids of one BPE over the
// whole text, so that the word cache can be used. It cuts before a sep that
// follows a character c other than sep, unless some token contains c+sep:
// then no BPE symbol (always a token) can span the cut, merges never cross
// it, and within each piece they keep their order. Most vocabularies have no
// such token; Gemma's has one ("'>▁</'"), so it is not cut after '>'.
type wordCutter struct {
	sep     string
	blocked map[rune]bool // characters that some token has right before sep
}

func newWordCutter(vocab []string, sep string) *wordCutter {
	c := &wordCutter{sep: sep, blocked: map[rune]bool{}}
	for _, s := range vocab {
		for strings.HasPrefix(s, sep) {
			s = s[len(sep):]
		}
		for i := strings.Index(s, sep); i > 0; {
			if r, _ := utf8.DecodeLastRuneInString(s[:i]); !strings.HasSuffix(s[:i], sep) {
				c.blocked[r] = true
			}
			j := strings.Index(s[i+len(sep):], sep)
			if j < 0 {
				break
			}
			i += len(sep) + j
		}
	}
	return c
}

// cut calls emit with the pieces of s.
func (c *wordCutter) cut(s string, emit func(string)) {
	start := 0
	for i := 0; ; {
		j := strings.Index(s[i:], c.sep)
		if j < 0 {
			break
		}
		j += i
		if j > start && !strings.HasSuffix(s[start:j], c.sep) {
			if r, _ := utf8.DecodeLastRuneInString(s[start:j]); !c.blocked[r] {
				emit(s[start:j])
				start = j
			}
		}
		i = j + len(c.sep)
	}
	if start < len(s) {
		emit(s[start:])
	}
}
