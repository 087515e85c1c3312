package generate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/golora/golora/model"
	"github.com/golora/golora/tokenizer"
)

// Text turns generated ids into the text a client should see, as they
// arrive: complete UTF-8 only (tokenizer.StreamDecoder), nothing that could
// still become a stop string (Stopper), and an end at an EOS id or a stop
// string. The CLI's generate and chat and the server all stream through it.
type Text struct {
	dec   *tokenizer.StreamDecoder
	stop  *Stopper
	eos   []int
	ended bool
}

// NewText returns a Text for a continuation of prompt (fed to the decoder
// first so that the continuation's first piece is decoded in context, e.g.
// SentencePiece's leading space), ending at any of eos or stops.
func NewText(tok tokenizer.Tokenizer, prompt, eos []int, stops []string) *Text {
	d := tokenizer.NewStreamDecoder(tok)
	for _, id := range prompt {
		d.Add(id)
	}
	return &Text{dec: d, stop: NewStopper(stops), eos: eos}
}

// Push adds one generated id and returns the text that is now safe to show,
// and whether generation has ended (an EOS id, whose text is not shown, or
// a stop string, which is cut off with everything after it).
func (t *Text) Push(id int) (string, bool) {
	if t.ended {
		return "", true
	}
	if slices.Contains(t.eos, id) {
		return t.Flush(), true
	}
	s, stopped := t.stop.Push(t.dec.Add(id))
	t.ended = stopped
	return s, stopped
}

// Flush returns what is still held back once generation ends for another
// reason (the token limit); Push calls it at an EOS id.
func (t *Text) Flush() string {
	if t.ended {
		return ""
	}
	t.ended = true
	s, stopped := t.stop.Push(t.dec.Flush())
	if stopped {
		return s
	}
	return s + t.stop.Flush()
}

// EOSIDs gathers the ids that end generation, as transformers' generate
// does: generation_config.json's eos_token_id (one id or a list, e.g. Llama
// 3's end_of_text and eot_id) when the model folder has one, else
// config.json's, plus the tokenizer's EOS. llama2.c models separate stories
// with BOS and never emit EOS; run.c stops when BOS is sampled, and so do
// we.
func EOSIDs(m model.Model, modelPath string, tok tokenizer.Full) []int {
	ids := append([]int(nil), m.Config().EOSTokenID...)
	if p, err := model.Resolve(modelPath); err == nil && p != "" { // a hub id: its cached snapshot
		dir := p
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			dir = filepath.Dir(p)
		}
		var gen struct {
			EOS model.TokenIDs `json:"eos_token_id"`
		}
		if data, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil && json.Unmarshal(data, &gen) == nil && len(gen.EOS) > 0 {
			ids = append([]int(nil), gen.EOS...)
		}
	}
	if tok != nil && tok.EOS() >= 0 && !slices.Contains(ids, tok.EOS()) {
		ids = append(ids, tok.EOS())
	}
	if _, ok := tok.(*tokenizer.Llama2C); ok && tok.BOS() >= 0 && !slices.Contains(ids, tok.BOS()) {
		ids = append(ids, tok.BOS())
	}
	return ids
}

// endOfTurn are the markers chat templates close an assistant turn with
// (ChatML/Qwen, Llama 3, Phi-3, Gemma, Llama 2/Mistral).
var endOfTurn = []string{"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>"}

// ChatStops returns what ends an assistant turn rendered with tok's chat
// template: the end-of-turn markers the template writes, as token ids where
// the vocabulary has them and as stop strings where it does not (the
// built-in ChatML template over a vocabulary without <|im_end|>, such as
// the embedded model's).
func ChatStops(tok tokenizer.Full) (ids []int, stops []string) {
	src := tok.ChatTemplate()
	if src == "" {
		src = tokenizer.DefaultChatTemplate
	}
	for _, s := range endOfTurn {
		if !strings.Contains(src, s) {
			continue
		}
		if id, ok := tok.TokenID(s); ok {
			ids = append(ids, id)
		} else {
			stops = append(stops, s)
		}
	}
	return ids, stops
}

// ChatPrompt renders messages with tok's chat template (the renderer
// golora train uses), opening an assistant turn, as prompt ids.
func ChatPrompt(tok tokenizer.Full, messages []tokenizer.Message) ([]int, error) {
	return tokenizer.EncodeChat(tok, messages, true)
}

// TextPrompt encodes a plain-text prompt as golora generate does: BOS first
// when the tokenizer asks for it (or, for an empty prompt, whenever it has
// one, so there is something to condition on), special-token strings kept
// as text.
func TextPrompt(tok tokenizer.Full, text string) []int {
	var ids []int
	if tok.AddBOS() || tok.BOS() >= 0 && text == "" {
		ids = append(ids, tok.BOS())
	}
	return append(ids, tok.Encode(text)...)
}
