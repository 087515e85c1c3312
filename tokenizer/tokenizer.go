// Package tokenizer turns text into token ids and back for the model families
// golora trains: byte-level BPE (GPT-2, Qwen2/3, Llama-3), SentencePiece-style
// BPE with the ▁ metaspace and byte fallback (Llama-2, TinyLlama, Mistral), and
// llama2.c tok.bin files. It also renders chat templates.
//
// Tokenizers are loaded from Hugging Face tokenizer.json files (with
// tokenizer_config.json beside them for bos/eos and the chat template) or from
// a llama2.c tok.bin file:
//
//	tok, err := tokenizer.Load("models/qwen3")  // folder with tokenizer.json
//	ids := tok.Encode("Hello world")            // no BOS/EOS added
//	text := tok.Decode(ids)
//
// Encode follows the Hugging Face `tokenizers` library: the same normalizers,
// pre-tokenizer split regexes, BPE merge order and added-token handling, so
// ids match the reference implementations on real text (see the tests, which
// compare against the npm packages transformers.js and gpt-3-encoder use).
//
// Special tokens (e.g. "<|im_start|>", "<s>") written in the text are treated
// as plain text by Encode, so user data can never forge control tokens; use
// EncodeWithSpecial on text that a chat template produced. Added tokens that are
// not special (e.g. Qwen3's "<think>") are always recognised, as in HF.
package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
)

// Tokenizer converts between text and token ids. It is the contract the
// other packages code against; the tokenizers this package loads also
// implement Full.
type Tokenizer interface {
	// Encode returns the ids of text without adding BOS/EOS; special-token
	// strings in text are encoded as ordinary text.
	Encode(text string) []int
	// Decode returns the text of ids. Special tokens decode to their content
	// (except llama2.c BOS/EOS, which run.c never prints). The result is the
	// raw bytes: a cut in the middle of a UTF-8 sequence is not replaced.
	Decode(ids []int) string
	// BOS returns the beginning-of-sequence id, or -1 if there is none.
	BOS() int
	// EOS returns the end-of-sequence id, or -1 if there is none.
	EOS() int
	// VocabSize is one more than the largest id (added tokens included).
	VocabSize() int
}

// Full is what the tokenizers of this package offer beyond Tokenizer.
type Full interface {
	Tokenizer
	// EncodeWithSpecial is Encode, but special-token strings occurring in text
	// become their ids (what a rendered chat template needs).
	EncodeWithSpecial(text string) []int
	// AddBOS reports whether the model expects BOS before a sequence
	// (tokenizer_config add_bos_token, or the post-processor's template).
	AddBOS() bool
	// TokenString returns the vocabulary string of id as stored in the file
	// (e.g. "Ġthe", "▁the", "<0x0A>"), or "" if id is out of range.
	TokenString(id int) string
	// TokenID looks up a vocabulary or added-token string.
	TokenID(s string) (int, bool)
	// BOSToken and EOSToken are the strings of BOS and EOS ("" if none), the
	// bos_token/eos_token variables of chat templates.
	BOSToken() string
	EOSToken() string
	// ChatTemplate returns the Jinja chat template from tokenizer_config.json,
	// or "" if the model has none.
	ChatTemplate() string
}

// piecer is implemented by this package's tokenizers so that StreamDecoder
// can decode one token at a time with the same rules as Decode.
type piecer interface {
	// appendPiece appends the bytes id decodes to; prev is the id before it
	// (-1 at the start of the text).
	appendPiece(dst []byte, id, prev int) []byte
}

// Load reads a tokenizer. path is a folder holding tokenizer.json (and
// optionally tokenizer_config.json), a tokenizer.json file itself, or a
// llama2.c tok.bin file.
func Load(path string) (Tokenizer, error) { return LoadFull(path) }

// LoadFull is Load returning the Full interface.
func LoadFull(path string) (Full, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if st.IsDir() {
		tj := filepath.Join(path, "tokenizer.json")
		if _, err := os.Stat(tj); err != nil {
			if bins, _ := filepath.Glob(filepath.Join(path, "tok*.bin")); len(bins) == 1 {
				return LoadLlama2C(bins[0])
			}
			return nil, fmt.Errorf("tokenizer: %s has no tokenizer.json (and no single tok*.bin)", path)
		}
		return LoadHF(tj, filepath.Join(path, "tokenizer_config.json"))
	}
	if filepath.Ext(path) == ".gguf" {
		return LoadGGUF(path)
	}
	if filepath.Ext(path) == ".json" {
		return LoadHF(path, filepath.Join(filepath.Dir(path), "tokenizer_config.json"))
	}
	return LoadLlama2C(path)
}

// EncodeChat renders messages with the tokenizer's chat template (or the
// built-in ChatML template) and encodes the result with special tokens
// recognised. BOS is not prepended: templates that want it write bos_token.
func EncodeChat(t Full, messages []Message, addGenerationPrompt bool) ([]int, error) {
	ct, err := NewChatTemplate(t)
	if err != nil {
		return nil, err
	}
	s, err := ct.Render(messages, addGenerationPrompt)
	if err != nil {
		return nil, err
	}
	return t.EncodeWithSpecial(s), nil
}

// vocabulary is the id <-> token-string table every tokenizer kind has; its
// methods implement VocabSize, TokenString and TokenID for all of them.
type vocabulary struct {
	vocab []string         // id -> token string as stored in the file
	ids   map[string]int32 // token string -> id
}

// VocabSize implements Tokenizer.
func (v *vocabulary) VocabSize() int { return len(v.vocab) }

// TokenString implements Full: "" for an id out of range.
func (v *vocabulary) TokenString(id int) string {
	if id < 0 || id >= len(v.vocab) {
		return ""
	}
	return v.vocab[id]
}

// TokenID implements Full.
func (v *vocabulary) TokenID(s string) (int, bool) {
	id, ok := v.ids[s]
	return int(id), ok
}

// decodeWith concatenates the text of ids; appendPiece is given the previous
// id because a piece can print differently after another (the leading space
// after BOS, consecutive unknown tokens).
func decodeWith(ids []int, appendPiece func(dst []byte, id, prev int) []byte) string {
	var b []byte
	prev := -1
	for _, id := range ids {
		b = appendPiece(b, id, prev)
		prev = id
	}
	return string(b)
}
