package generate

import (
	"errors"
	"fmt"
	"io"

	"github.com/golora/golora/model"
	"github.com/golora/golora/tokenizer"
)

// Chat is a multi-turn conversation with a model through its chat template
// (the renderer golora train uses): each Send renders the whole history
// plus the new user turn, generates the assistant's reply until the
// template's end-of-turn marker, and adds both turns to the history.
type Chat struct {
	m      model.Model
	tok    tokenizer.Full
	opt    Options
	system string
	msgs   []tokenizer.Message
}

// NewChat starts a conversation; opt.MaxNew 0 means up to the model's
// context, and opt.EOS gets the template's end-of-turn ids added.
func NewChat(m model.Model, tok tokenizer.Full, system string, opt Options) *Chat {
	ids, _ := ChatStops(tok)
	opt.EOS = append(append([]int(nil), opt.EOS...), ids...)
	c := &Chat{m: m, tok: tok, opt: opt, system: system}
	c.Reset()
	return c
}

// Reset forgets every turn but the system message.
func (c *Chat) Reset() {
	c.msgs = c.msgs[:0]
	if c.system != "" {
		c.msgs = append(c.msgs, tokenizer.Message{Role: "system", Content: c.system})
	}
}

// Send adds a user turn, streams the reply to w as it is generated and
// returns it.
func (c *Chat) Send(user string, w io.Writer) (string, error) {
	msgs := append(c.msgs, tokenizer.Message{Role: "user", Content: user})
	prompt, err := ChatPrompt(c.tok, msgs)
	if err != nil {
		return "", err
	}
	if len(prompt) == 0 {
		return "", errors.New("generate: the chat template rendered nothing")
	}
	opt := c.opt
	if maxPos := c.m.Config().MaxPositionEmbeddings; opt.MaxNew <= 0 || maxPos > 0 && len(prompt)+opt.MaxNew > maxPos {
		if maxPos <= 0 {
			maxPos = len(prompt) + 256
		}
		opt.MaxNew = maxPos - len(prompt)
		if opt.MaxNew <= 0 {
			return "", fmt.Errorf("generate: the conversation (%d tokens) fills the model's %d positions; /reset it", len(prompt), maxPos)
		}
	}
	_, stops := ChatStops(c.tok)
	text := NewText(c.tok, prompt, opt.EOS, stops)
	var reply []byte
	var werr error
	_, err = Run(c.m, prompt, opt, func(id int) bool {
		s, done := text.Push(id)
		reply = append(reply, s...)
		if _, e := io.WriteString(w, s); e != nil && werr == nil {
			werr = e
		}
		return !done && werr == nil
	})
	rest := text.Flush()
	reply = append(reply, rest...)
	io.WriteString(w, rest)
	if err == nil {
		err = werr
	}
	c.msgs = append(msgs, tokenizer.Message{Role: "assistant", Content: string(reply)})
	return string(reply), err
}
