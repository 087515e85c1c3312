package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/golora/golora/format/gguf"
	"github.com/golora/golora/internal/atomicfile"
)

// A GGUF file's tokenizer as Hugging Face files, the tokenizer.json and
// tokenizer_config.json that transformers' PreTrainedTokenizerFast (and
// LoadFull) read, so that a model folder made from a GGUF file carries its
// tokenizer: the "gpt2" kind as the byte-level BPE it describes (FromGGUF
// parses the same files), the "llama" kind (SentencePiece) as transformers'
// LlamaConverter writes Llama's: a BPE with byte fallback whose merges come
// from the scores (SentencePieceExtractor), "▁" for spaces, and a dummy
// prefix.

// ggufBPEModel is tokenizer.json's "model" object.
type ggufBPEModel struct {
	Type         string         `json:"type"`
	Dropout      *float64       `json:"dropout"`
	UnkToken     *string        `json:"unk_token"`
	Prefix       *string        `json:"continuing_subword_prefix"`
	Suffix       *string        `json:"end_of_word_suffix"`
	FuseUnk      bool           `json:"fuse_unk"`
	ByteFallback bool           `json:"byte_fallback"`
	IgnoreMerges bool           `json:"ignore_merges"`
	Vocab        map[string]int `json:"vocab"`
	Merges       [][2]string    `json:"merges"`
}

// hfFiles renders g as tokenizer.json and tokenizer_config.json.
func (g *ggufVocab) hfFiles() (tokenizerJSON, configJSON []byte, err error) {
	var file struct {
		Version       string          `json:"version"`
		Truncation    json.RawMessage `json:"truncation"`
		Padding       json.RawMessage `json:"padding"`
		AddedTokens   []addedToken    `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor any             `json:"post_processor"`
		Decoder       json.RawMessage `json:"decoder"`
		Model         ggufBPEModel    `json:"model"`
	}
	file.Version = "1.0"
	m := &file.Model
	m.Type = "BPE"
	m.Vocab = make(map[string]int, len(g.tokens))
	for i, s := range g.tokens {
		if _, dup := m.Vocab[s]; dup {
			if g.kind == "llama" {
				continue // a repeated piece encodes as its first id, as in FromGGUF's tokenizer
			}
			return nil, nil, fmt.Errorf("token %d %q appears twice", i, s)
		}
		m.Vocab[s] = i
		if g.types == nil {
			continue
		}
		// Control tokens (and SentencePiece's <unk>, as LlamaConverter
		// lists it) are special added tokens, user-defined ones plain.
		special := g.types[i] == ggufControl || g.kind == "llama" && g.types[i] == ggufUnknown
		if special || g.types[i] == ggufUserDefined {
			file.AddedTokens = append(file.AddedTokens, addedToken{ID: i, Content: s, Special: special})
		}
	}
	cfg := map[string]any{"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": g.addBOS,
		"add_eos_token": false, "clean_up_tokenization_spaces": false}
	if g.chat != "" {
		cfg["chat_template"] = g.chat
	}
	if g.bos >= 0 {
		cfg["bos_token"] = g.tokens[g.bos]
	}
	if g.eos >= 0 {
		cfg["eos_token"] = g.tokens[g.eos]
	}
	switch g.kind {
	case "llama":
		unk := 0 // SentencePiece's default unk_id
		if i := slices.Index(g.types, ggufUnknown); i >= 0 {
			unk = i
		}
		m.UnkToken, m.FuseUnk, m.ByteFallback = &g.tokens[unk], true, true
		cfg["unk_token"] = g.tokens[unk]
		m.Merges = spmMerges(g.tokens, g.scores)
		file.Normalizer = json.RawMessage(`{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},` +
			`{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`)
		file.Decoder = json.RawMessage(`{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},` +
			`{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`)
	case "gpt2":
		m.IgnoreMerges = g.pre == "llama-bpe" || g.pre == "llama3"
		for i, s := range g.merges {
			// llama.cpp splits at the first space after the first byte.
			k := strings.Index(s[min(1, len(s)):], " ")
			if k < 0 {
				return nil, nil, fmt.Errorf("tokenizer.ggml.merges[%d] %q has no space", i, s)
			}
			k += min(1, len(s))
			m.Merges = append(m.Merges, [2]string{s[:k], s[k+1:]})
		}
		file.PreTokenizer = json.RawMessage(ggufPreSplit[g.pre])
		file.Decoder = json.RawMessage(`{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}`)
	}
	if g.addBOS && g.bos >= 0 { // BOS before each sequence, as Llama's files say
		bos := g.tokens[g.bos]
		type piece = map[string]map[string]any
		special := func(typeID int) piece { return piece{"SpecialToken": {"id": bos, "type_id": typeID}} }
		seq := func(id string, typeID int) piece { return piece{"Sequence": {"id": id, "type_id": typeID}} }
		file.PostProcessor = map[string]any{"type": "TemplateProcessing",
			"single":         []piece{special(0), seq("A", 0)},
			"pair":           []piece{special(0), seq("A", 0), special(1), seq("B", 1)},
			"special_tokens": map[string]any{bos: map[string]any{"id": bos, "ids": []int{g.bos}, "tokens": []string{bos}}}}
	}
	if tokenizerJSON, err = marshalJSON(file); err != nil {
		return nil, nil, err
	}
	configJSON, err = marshalJSON(cfg)
	return tokenizerJSON, configJSON, err
}

// spmMerges derives BPE merges from SentencePiece scores as transformers'
// SentencePieceExtractor does: every split of a piece into two pieces of the
// vocabulary is a merge, ranked by the piece's score (highest first), then
// by the lengths of the left and right parts (longest first); ties keep
// the vocabulary's order.
func spmMerges(tokens []string, scores []float32) [][2]string {
	ids := make(map[string]int, len(tokens))
	for i, s := range tokens {
		if _, dup := ids[s]; !dup {
			ids[s] = i
		}
	}
	type merge struct {
		l, r  string
		score float32
	}
	var ms []merge
	for i, s := range tokens {
		start := len(ms)
		for k := range s { // split points at rune boundaries, as Python's str
			if k == 0 {
				continue
			}
			if _, ok := ids[s[:k]]; ok {
				if _, ok := ids[s[k:]]; ok {
					ms = append(ms, merge{s[:k], s[k:], scores[i]})
				}
			}
		}
		slices.SortStableFunc(ms[start:], func(a, b merge) int {
			if d := ids[a.l] - ids[b.l]; d != 0 {
				return d
			}
			return ids[a.r] - ids[b.r]
		})
	}
	n := utf8.RuneCountInString
	slices.SortStableFunc(ms, func(a, b merge) int {
		switch {
		case a.score != b.score:
			if a.score > b.score {
				return -1
			}
			return 1
		case n(a.l) != n(b.l):
			return n(b.l) - n(a.l)
		}
		return n(b.r) - n(a.r)
	})
	out := make([][2]string, len(ms))
	for i, m := range ms {
		out[i] = [2]string{m.l, m.r}
	}
	return out
}

// marshalJSON is json.Marshal without HTML escaping and indented, as
// Hugging Face writes its files.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(v)
	return b.Bytes(), err
}

// writeGGUFFiles writes the tokenizer of the GGUF file src into the folder
// dst as tokenizer.json and tokenizer_config.json.
func writeGGUFFiles(dst, src string) error {
	f, err := gguf.Open(src)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	g, err := readGGUFVocab(f)
	if err != nil {
		return err
	}
	tj, cj, err := g.hfFiles()
	if err != nil {
		return fmt.Errorf("tokenizer: %s: %w", src, err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dst, "tokenizer.json"), tj); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(dst, "tokenizer_config.json"), cj)
}
