package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/golora/golora/format/gguf"
)

// GGUF files carry their tokenizer in tokenizer.ggml.* keys (llama.cpp's
// src/llama-vocab.cpp). The two kinds golora reads are built with this
// package's existing types, so encoding is the same code as for the other
// formats:
//   - "llama" (SentencePiece: tokens with ▁, scores, byte-fallback <0xNN>
//     tokens) → Llama2C's scored merges, the algorithm llama.cpp's SPM
//     tokenizer also runs;
//   - "gpt2" (byte-level BPE: tokens, merges, and tokenizer.ggml.pre naming
//     the split pattern) → HF, from the tokenizer.json it describes.

// GGUF token types (llama_token_type).
const (
	ggufNormal      = 1
	ggufUnknown     = 2
	ggufControl     = 3
	ggufUserDefined = 4
	ggufUnused      = 5
	ggufByte        = 6
)

// ggufPreSplit is the tokenizer.json pre_tokenizer of each
// tokenizer.ggml.pre golora implements.
var ggufPreSplit = map[string]string{
	"gpt-2":     `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`,
	"default":   `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`,
	"llama-bpe": split(patLlama3),
	"llama3":    split(patLlama3),
	"qwen2":     split(patQwen2),
}

func split(pat string) string {
	p, _ := json.Marshal(pat)
	return `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + string(p) +
		`},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`
}

// LoadGGUF reads the tokenizer embedded in a .gguf file.
func LoadGGUF(path string) (Full, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	return FromGGUF(f)
}

// ggufVocab is the tokenizer.ggml.* content of a GGUF file, checked.
type ggufVocab struct {
	kind, pre, chat string
	tokens          []string
	types           []int32   // nil when the file has none
	scores          []float32 // llama kind only
	merges          []string  // gpt2 kind only
	bos, eos        int       // -1: none
	addBOS          bool
}

// readGGUFVocab reads and checks the tokenizer keys of f.
func readGGUFVocab(f *gguf.File) (*ggufVocab, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("tokenizer: %s: "+format, append([]any{f.Path()}, a...)...)
	}
	g := &ggufVocab{}
	var ok bool
	if g.kind, ok = f.String("tokenizer.ggml.model"); !ok {
		return nil, bad("no tokenizer.ggml.model")
	}
	v, _ := f.Get("tokenizer.ggml.tokens")
	if g.tokens, ok = v.([]string); !ok || len(g.tokens) == 0 {
		return nil, bad("tokenizer.ggml.tokens is missing or not a string array")
	}
	if v, ok := f.Get("tokenizer.ggml.token_type"); ok {
		if g.types, ok = v.([]int32); !ok || len(g.types) != len(g.tokens) {
			return nil, bad("tokenizer.ggml.token_type is not an i32 array of %d entries", len(g.tokens))
		}
	}
	id := func(key string, def int) int {
		if n, ok := f.Int("tokenizer.ggml." + key); ok && n >= 0 && n < len(g.tokens) {
			return n
		}
		return def
	}
	flag := func(key string, def bool) bool {
		if b, ok := f.Bool("tokenizer.ggml." + key); ok {
			return b
		}
		return def
	}
	g.chat, _ = f.String("tokenizer.chat_template")
	switch g.kind {
	case "llama":
		v, ok := f.Get("tokenizer.ggml.scores")
		if !ok {
			return nil, bad("SentencePiece (llama) vocabulary without tokenizer.ggml.scores")
		}
		if g.scores, ok = v.([]float32); !ok || len(g.scores) != len(g.tokens) {
			return nil, bad("tokenizer.ggml.scores is not an f32 array of %d entries", len(g.tokens))
		}
		if !flag("add_space_prefix", true) {
			return nil, bad("tokenizer.ggml.add_space_prefix = false is not implemented")
		}
		g.bos, g.eos, g.addBOS = id("bos_token_id", 1), id("eos_token_id", 2), flag("add_bos_token", true)
	case "gpt2":
		if g.pre, _ = f.String("tokenizer.ggml.pre"); g.pre == "" {
			g.pre = "default"
		}
		if _, ok := ggufPreSplit[g.pre]; !ok {
			return nil, bad("tokenizer.ggml.pre %q is not implemented (expected one of gpt-2, default, llama-bpe, qwen2)", g.pre)
		}
		v, _ := f.Get("tokenizer.ggml.merges")
		if g.merges, ok = v.([]string); !ok {
			return nil, bad("byte-level BPE (gpt2) vocabulary without tokenizer.ggml.merges")
		}
		g.bos, g.eos, g.addBOS = id("bos_token_id", -1), id("eos_token_id", -1), flag("add_bos_token", false)
	default:
		return nil, bad("tokenizer.ggml.model %q is not implemented (expected llama or gpt2)", g.kind)
	}
	return g, nil
}

// FromGGUF builds the tokenizer embedded in a GGUF file.
func FromGGUF(f *gguf.File) (Full, error) {
	g, err := readGGUFVocab(f)
	if err != nil {
		return nil, err
	}
	if g.kind == "llama" {
		vocab := make([]string, len(g.tokens))
		for i, s := range g.tokens {
			vocab[i] = strings.ReplaceAll(s, "▁", " ")
		}
		t := newSPM(vocab, g.scores, g.bos, g.eos, g.addBOS, g.chat)
		t.bosTok, t.eosTok = g.tokens[g.bos], g.tokens[g.eos]
		return t, nil
	}
	tj, cj, err := g.hfFiles()
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", f.Path(), err)
	}
	t, err := ParseHF(tj, cj)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", f.Path(), err)
	}
	return t, nil
}

// GGUFMetadata is t as tokenizer.ggml.* keys (and tokenizer.chat_template)
// for a GGUF file that llama.cpp can tokenize with.
func GGUFMetadata(t Full) ([]gguf.KV, error) {
	var kv []gguf.KV
	add := func(k string, v any) { kv = append(kv, gguf.KV{Key: k, Value: v}) }
	n := t.VocabSize()
	tokens := make([]string, n)
	types := make([]int32, n)
	switch x := t.(type) {
	case *Llama2C:
		add("tokenizer.ggml.model", "llama")
		add("tokenizer.ggml.pre", "default")
		for i, s := range x.vocab {
			tokens[i] = strings.ReplaceAll(s, " ", "▁")
			switch {
			case i == x.bos || i == x.eos:
				types[i] = ggufControl
			case i == 0 && strings.Contains(s, "unk"):
				types[i] = ggufUnknown
			case len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>':
				types[i] = ggufByte
			default:
				types[i] = ggufNormal
			}
		}
		// tok.bin spells BOS/EOS "\n<s>\n"; llama.cpp's control tokens are
		// the plain strings.
		tokens[x.bos], tokens[x.eos] = x.bosTok, x.eosTok
		add("tokenizer.ggml.tokens", tokens)
		add("tokenizer.ggml.scores", slices.Clone(x.scores))
		add("tokenizer.ggml.token_type", types)
	case *HF:
		if !x.byteLevel || x.ggufPre == "" {
			return nil, fmt.Errorf("tokenizer: only byte-level BPE tokenizers with the GPT-2, Llama 3 or Qwen2 split pattern can be written to GGUF")
		}
		add("tokenizer.ggml.model", "gpt2")
		add("tokenizer.ggml.pre", x.ggufPre)
		for i, s := range x.vocab {
			tokens[i] = s
			types[i] = ggufNormal
			if s == "" { // an id no token uses: GGUF token strings must be unique
				tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), ggufUnused
			}
		}
		for _, a := range x.added {
			types[a.ID] = ggufUserDefined
			if a.Special {
				types[a.ID] = ggufControl
			}
		}
		type rm struct {
			rank int32
			s    string
		}
		var ms []rm
		for k, m := range x.model.merges {
			a, b := int32(k>>32), int32(uint32(k))
			ms = append(ms, rm{m.rank, x.vocab[a] + " " + x.vocab[b]})
		}
		slices.SortFunc(ms, func(p, q rm) int { return int(p.rank - q.rank) })
		merges := make([]string, len(ms))
		for i, m := range ms {
			merges[i] = m.s
		}
		add("tokenizer.ggml.tokens", tokens)
		add("tokenizer.ggml.token_type", types)
		add("tokenizer.ggml.merges", merges)
	default:
		return nil, fmt.Errorf("tokenizer: %T cannot be written to GGUF", t)
	}
	if id := t.BOS(); id >= 0 {
		add("tokenizer.ggml.bos_token_id", uint32(id))
	}
	if id := t.EOS(); id >= 0 {
		add("tokenizer.ggml.eos_token_id", uint32(id))
	}
	add("tokenizer.ggml.add_bos_token", t.AddBOS())
	if c := t.ChatTemplate(); c != "" {
		add("tokenizer.chat_template", c)
	}
	return kv, nil
}
